//! One person record as a source holds it (a saved contact, an "other
//! contact", a directory profile, an entry of the sandbox's address book),
//! normalised: folded for search, emails lower-cased, phones in E.164 when
//! they can be, read from the People API's `Person` JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `people.connections.list`: the user's own contacts.
    Saved,
    /// `otherContacts.list`: people the user wrote to or heard from.
    Other,
    /// `people.listDirectoryPeople`: the Workspace directory.
    Directory,
    /// The sandbox account's local address book.
    Local,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Saved => "saved",
            Source::Other => "other",
            Source::Directory => "directory",
            Source::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Some(match s {
            "saved" => Source::Saved,
            "other" => Source::Other,
            "directory" => Source::Directory,
            "local" => Source::Local,
            _ => return None,
        })
    }

    /// How a human reads it: "saved contact".
    pub fn label(self) -> &'static str {
        match self {
            Source::Saved => "saved contact",
            Source::Other => "other contact",
            Source::Directory => "directory",
            Source::Local => "local address book",
        }
    }
}

/// An email address or a phone number of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handle {
    /// Emails lower-cased; phones in E.164 when known, else as given.
    pub value: String,
    /// Google's type: home, work, mobile, other...
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub primary: bool,
}

/// The fields commsd keeps of a person record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fields {
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub nicknames: Vec<String>,
    #[serde(default)]
    pub emails: Vec<Handle>,
    #[serde(default)]
    pub phones: Vec<Handle>,
    /// Chat user ids (`users/<id>`), from the record's profile source.
    #[serde(default)]
    pub chat: Vec<String>,
    /// Contact group resource names (`contactGroups/...`).
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub account_id: String,
    pub source: Source,
    pub resource_name: String,
    pub etag: Option<String>,
    pub fields: Fields,
}

fn primary(v: &Value) -> bool {
    v["metadata"]["primary"].as_bool().unwrap_or(false)
}

fn strs(v: &Value, list: &str, field: &str) -> Vec<String> {
    v[list]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x[field].as_str())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A phone number in E.164 (`+` and digits) when it is written with a `+`,
/// else its digits as given (no region is guessed).
pub fn phone(raw: &str) -> String {
    let digits = digits(raw);
    if raw.trim_start().starts_with('+') {
        format!("+{digits}")
    } else if let Some(rest) = digits.strip_prefix("00").filter(|r| r.len() >= 8) {
        format!("+{rest}")
    } else {
        digits
    }
}

pub fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

impl Fields {
    /// The fields of a People API `Person`.
    pub fn from_person(p: &Value) -> Fields {
        let mut names = Vec::new();
        for n in p["names"].as_array().into_iter().flatten() {
            let display = n["displayName"].as_str().map(str::trim).unwrap_or_default();
            let built = format!(
                "{} {}",
                n["givenName"].as_str().unwrap_or_default(),
                n["familyName"].as_str().unwrap_or_default()
            );
            let name = if display.is_empty() {
                built.trim().to_owned()
            } else {
                display.to_owned()
            };
            if !name.is_empty() && !names.contains(&name) {
                if primary(n) {
                    names.insert(0, name);
                } else {
                    names.push(name);
                }
            }
        }
        let emails = p["emailAddresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let value = e["value"].as_str()?.trim().to_lowercase();
                (!value.is_empty()).then(|| Handle {
                    value,
                    kind: e["type"].as_str().unwrap_or_default().to_lowercase(),
                    primary: primary(e),
                })
            })
            .collect();
        let phones = p["phoneNumbers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| {
                let raw = n["canonicalForm"].as_str().or(n["value"].as_str())?;
                let value = phone(raw);
                (!value.is_empty()).then(|| Handle {
                    value,
                    kind: n["type"].as_str().unwrap_or_default().to_lowercase(),
                    primary: primary(n),
                })
            })
            .collect();
        let chat = p["metadata"]["sources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| matches!(s["type"].as_str(), Some("DOMAIN_PROFILE" | "PROFILE")))
            .filter_map(|s| s["id"].as_str())
            .map(|id| format!("users/{id}"))
            .collect();
        let groups = p["memberships"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["contactGroupMembership"]["contactGroupResourceName"].as_str())
            .map(str::to_owned)
            .collect();
        let organization = p["organizations"]
            .as_array()
            .and_then(|o| o.first())
            .and_then(|o| o["name"].as_str())
            .map(str::to_owned);
        Fields {
            names,
            nicknames: strs(p, "nicknames", "value"),
            emails,
            phones,
            chat,
            groups,
            organization,
        }
    }

    /// The People API `Person` body for these fields (create and update).
    pub fn to_person(&self) -> Value {
        let names: Vec<Value> = self
            .names
            .first()
            .map(|n| {
                let (given, family) = n.rsplit_once(' ').unwrap_or((n.as_str(), ""));
                vec![serde_json::json!({ "givenName": given, "familyName": family })]
            })
            .unwrap_or_default();
        let handle = |h: &Handle| {
            let mut v = serde_json::json!({ "value": h.value });
            if !h.kind.is_empty() {
                v["type"] = h.kind.clone().into();
            }
            v
        };
        let mut p = serde_json::json!({
            "names": names,
            "nicknames": self.nicknames.iter().map(|n| serde_json::json!({ "value": n })).collect::<Vec<_>>(),
            "emailAddresses": self.emails.iter().map(handle).collect::<Vec<_>>(),
            "phoneNumbers": self.phones.iter().map(handle).collect::<Vec<_>>(),
            "organizations": self.organization.iter().map(|o| serde_json::json!({ "name": o })).collect::<Vec<_>>(),
        });
        if !self.groups.is_empty() {
            p["memberships"] = self
                .groups
                .iter()
                .map(|g| serde_json::json!({ "contactGroupMembership": { "contactGroupResourceName": g } }))
                .collect();
        }
        p
    }

    /// The display name: the first name, else the first email or phone.
    pub fn display(&self) -> String {
        self.names
            .first()
            .or_else(|| self.emails.first().map(|h| &h.value))
            .or_else(|| self.phones.first().map(|h| &h.value))
            .cloned()
            .unwrap_or_default()
    }
}

/// Lower-cases and folds accents (Latin letters), so "José Müller" and
/// "jose muller" compare equal.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        match fold_char(c) {
            Some(f) => out.push_str(f),
            None => out.extend(c.to_lowercase()),
        }
    }
    out
}

fn fold_char(c: char) -> Option<&'static str> {
    Some(match c {
        'À'..='Å' | 'à'..='å' | 'Ā'..='ą' => "a",
        'Æ' | 'æ' => "ae",
        'Ç' | 'ç' | 'Ć'..='č' => "c",
        'Ď'..='đ' => "d",
        'È'..='Ë' | 'è'..='ë' | 'Ē'..='ě' => "e",
        'Ĝ'..='ģ' => "g",
        'Ĥ'..='ħ' => "h",
        'Ì'..='Ï' | 'ì'..='ï' | 'Ĩ'..='ı' => "i",
        'Ĵ' | 'ĵ' => "j",
        'Ķ' | 'ķ' => "k",
        'Ĺ'..='ł' => "l",
        'Ñ' | 'ñ' | 'Ń'..='ň' => "n",
        'Ò'..='Ö' | 'Ø' | 'ò'..='ö' | 'ø' | 'Ō'..='ő' => "o",
        'Œ' | 'œ' => "oe",
        'Ŕ'..='ř' => "r",
        'Ś'..='š' => "s",
        'ß' => "ss",
        'Ţ'..='ŧ' => "t",
        'Ù'..='Ü' | 'ù'..='ü' | 'Ũ'..='ų' => "u",
        'Ŵ' | 'ŵ' => "w",
        'Ý' | 'ý' | 'ÿ' | 'Ŷ'..='Ÿ' => "y",
        'Ź'..='ž' => "z",
        'Þ' | 'þ' => "th",
        'Ð' | 'ð' => "d",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_accents_and_case() {
        assert_eq!(fold("José Müller"), "jose muller");
        assert_eq!(fold("ŁUKASZ Żółć"), "lukasz zolc");
        assert_eq!(fold("Straße"), "strasse");
    }

    #[test]
    fn phones_keep_e164_and_never_guess_a_region() {
        assert_eq!(phone("+1 (415) 867-5309"), "+14158675309");
        assert_eq!(phone("0044 20 7946 0018"), "+442079460018");
        assert_eq!(phone("867-5309"), "8675309");
    }

    #[test]
    fn reads_a_people_api_person() {
        let p = serde_json::json!({
            "names": [{ "displayName": "John Doe", "metadata": { "primary": true } }],
            "emailAddresses": [{ "value": "John@Example.com", "type": "work" }],
            "phoneNumbers": [{ "value": "(415) 867-5309", "canonicalForm": "+14158675309", "type": "mobile" }],
            "memberships": [{ "contactGroupMembership": { "contactGroupResourceName": "contactGroups/friends" } }],
            "metadata": { "sources": [{ "type": "PROFILE", "id": "1234" }] }
        });
        let f = Fields::from_person(&p);
        assert_eq!(f.names, vec!["John Doe"]);
        assert_eq!(f.emails[0].value, "john@example.com");
        assert_eq!(f.phones[0].value, "+14158675309");
        assert_eq!(f.chat, vec!["users/1234"]);
        assert_eq!(f.groups, vec!["contactGroups/friends"]);
        let back = Fields::from_person(&f.to_person());
        assert_eq!(back.emails, f.emails);
    }
}
