#!/bin/bash
# Usage: start-dovecot.sh DIR  -- rootless dovecot in DIR (IMAP 10143, IMAPS 10993, submission 10587 -> relay 10025, LMTP 10024)
# Runs as the calling user (must not be root: from root use `setpriv --reuid=nobody ...` or `runuser -u nobody --`).
# Env: *_PORT overrides; CERT_FILE/KEY_FILE use that certificate instead of a fresh self-signed one;
# USERS_FILE uses that passwd-file instead of the two default users;
# OAUTH2_INTROSPECTION_URL=http://id:secret@127.0.0.1:9000/token/introspection enables XOAUTH2/OAUTHBEARER.
#
# Origin: the commsd project's peer notes (shared/peers/start-dovecot.sh), adapted for the test
# harness (tests/support/dovecot.rs): certificate and users from the environment, and an
# implicit-TLS submission listener (SUBMISSIONS_PORT, default 10465), an \Archive folder. Dovecot 2.3 (Debian 12).
set -euo pipefail
D=${1:?dir}; mkdir -p "$D"/{run,state,home}
U=$(id -un); G=$(id -gn)
: "${IMAP_PORT:=10143}" "${IMAPS_PORT:=10993}" "${SUBMISSION_PORT:=10587}" "${SUBMISSIONS_PORT:=10465}" "${LMTP_PORT:=10024}" "${RELAY_PORT:=10025}"
# users: name:{PLAIN}password  (passwd-file), mail under $D/home/<user>
if [ -n "${USERS_FILE:-}" ]; then
  cp "$USERS_FILE" "$D/users"
else
  cat > "$D/users" <<USERS
alice@example.test:{PLAIN}alicepw::::::
bob@example.test:{PLAIN}bobpw::::::
USERS
fi
if [ -n "${CERT_FILE:-}" ]; then
  cp "$CERT_FILE" "$D/cert.pem"; cp "${KEY_FILE:?KEY_FILE with CERT_FILE}" "$D/key.pem"
else
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/key.pem" -out "$D/cert.pem" -days 2 -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1
fi
MECHS=""; OAUTH_PASSDB=""
if [ -n "${OAUTH2_INTROSPECTION_URL:-}" ]; then   # optional: XOAUTH2/OAUTHBEARER validated by token introspection (RFC 7662)
  MECHS="xoauth2 oauthbearer"
  cat > "$D/oauth2.conf.ext" <<O2
introspection_mode = post
introspection_url = $OAUTH2_INTROSPECTION_URL
username_attribute = sub
active_attribute = active
active_value = true
force_introspection = yes
O2
  OAUTH_PASSDB="passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $D/oauth2.conf.ext
}"
fi
cat > "$D/dovecot.conf" <<CONF
base_dir = $D/run
state_dir = $D/state
log_path = $D/dovecot.log
protocols = imap lmtp submission
listen = 127.0.0.1
ssl = yes
ssl_cert = <$D/cert.pem
ssl_key = <$D/key.pem
disable_plaintext_auth = no
auth_verbose = yes
auth_mechanisms = plain login $MECHS
default_internal_user = $U
default_internal_group = $G
default_login_user = $U
mail_location = maildir:~/Maildir
mail_uid = $U
mail_gid = $G
hostname = mail.example.test
postmaster_address = postmaster@example.test
submission_relay_host = 127.0.0.1
submission_relay_port = $RELAY_PORT
submission_relay_trusted = yes
$OAUTH_PASSDB
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $D/users
}
userdb {
  driver = static
  args = uid=$U gid=$G home=$D/home/%u
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
  inet_listener imap {
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = $IMAPS_PORT
    ssl = yes
  }
}
service submission-login {
  chroot =
  inet_listener submission {
    port = $SUBMISSION_PORT
  }
  inet_listener submissions {
    port = $SUBMISSIONS_PORT
    ssl = yes
  }
}
service pop3-login {
  chroot =
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
protocol imap {
  mail_max_userip_connections = 50
}
namespace inbox {
  inbox = yes
  mailbox Drafts {
    special_use = \Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
    auto = subscribe
  }
  mailbox Archive {
    special_use = \Archive
    auto = subscribe
  }
  # A name that is not ASCII: IMAP clients see it in modified UTF-7.
  mailbox "Befunde Ärzte" {
    auto = subscribe
  }
}
CONF
exec /usr/sbin/dovecot -F -c "$D/dovecot.conf"
