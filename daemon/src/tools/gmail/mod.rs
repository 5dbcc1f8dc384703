//! The Gmail tools (design.md §11: toolsets gmail_read, gmail_compose,
//! gmail_modify): a thin adapter over [`GmailService`], which checks grants,
//! validates, renders and owns the send gate. This file converts: the
//! arguments (the contract's names) into the service's typed inputs, its
//! outputs into results ([`wire`], shared with `/api/v1/gmail`), and staged
//! items into MCP outcomes (approval requests included). `commsctl gmail`
//! runs these tools through `Tools.Invoke`.

mod schemas;
pub mod wire;

use std::sync::Arc;

use serde_json::Value;

pub use self::schemas::TOOLS;
use self::wire::{
    BatchArgs, CreateDraftArgs, GetMessageArgs, GetThreadArgs, ReplyArgs, UpdateDraftArgs,
};
use super::{Outcome, ToolDef, ToolProvider, args};
use crate::auth::Caller;
use crate::error::{Code, Error};
use crate::gmail::GmailService;
use crate::gmail::types::{
    ArchiveInput, AttachmentInput, MarkInput, ModifyInput, SearchInput, SendDraftInput,
};

pub struct GmailTools {
    service: Arc<GmailService>,
}

impl GmailTools {
    pub fn new(service: Arc<GmailService>) -> GmailTools {
        GmailTools { service }
    }

    pub fn service(&self) -> &GmailService {
        &self.service
    }

    async fn run(&self, caller: &Caller, name: &str, arguments: &Value) -> Result<Outcome, Error> {
        let s = &self.service;
        let ok = |v: Value| Outcome::ok(v);
        match name {
            "gmail_search_messages" => {
                let a: SearchInput = args(arguments)?;
                wire::search(&s.search(caller, a).await?).map(ok)
            }
            "gmail_get_message" => {
                let a: GetMessageArgs = args(arguments)?;
                wire::message(&s.get_message(caller, a.try_into()?).await?).map(ok)
            }
            "gmail_get_messages_batch" => {
                let a: BatchArgs = args(arguments)?;
                wire::json(&s.get_messages(caller, a.try_into()?).await?).map(ok)
            }
            "gmail_get_thread" => {
                let a: GetThreadArgs = args(arguments)?;
                wire::json(&s.get_thread(caller, a.try_into()?).await?).map(ok)
            }
            "gmail_get_attachment" => {
                let a: AttachmentInput = args(arguments)?;
                wire::json(&s.save_attachment(caller, a).await?).map(ok)
            }
            "gmail_create_draft" => {
                let a: CreateDraftArgs = args(arguments)?;
                wire::draft(&s.create_draft(caller, a.into()).await?).map(ok)
            }
            "gmail_update_draft" => {
                let a: UpdateDraftArgs = args(arguments)?;
                wire::draft(&s.patch_draft(caller, a.into()).await?).map(ok)
            }
            "gmail_send_draft" => {
                let a: SendDraftInput = args(arguments)?;
                let sent = s.send_draft(caller, a).await?;
                Ok(wire::staged(s.dashboard_url(), caller, &sent))
            }
            "gmail_reply_in_thread" => {
                let a: ReplyArgs = args(arguments)?;
                let (thread_id, input) = a.split();
                let replied = s.reply_in_thread(caller, &thread_id, input).await?;
                Ok(wire::reply(s.dashboard_url(), caller, &replied))
            }
            "gmail_modify_labels" => {
                let a: ModifyInput = args(arguments)?;
                wire::json(&s.modify_labels(caller, a).await?).map(ok)
            }
            "gmail_mark_read_unread" => {
                let a: MarkInput = args(arguments)?;
                wire::json(&s.mark(caller, a).await?).map(ok)
            }
            "gmail_archive" => {
                let a: ArchiveInput = args(arguments)?;
                wire::json(&s.archive(caller, a).await?).map(ok)
            }
            other => Err(Error::new(
                Code::NotFound,
                format!("tool {other} is not a Gmail tool"),
            )),
        }
    }
}

#[async_trait::async_trait]
impl ToolProvider for GmailTools {
    fn tools(&self) -> &'static [ToolDef] {
        TOOLS
    }

    async fn call(&self, caller: &Caller, name: &str, arguments: &Value) -> Result<Outcome, Error> {
        self.run(caller, name, arguments)
            .await
            .map_err(|e| wire::error(name, e))
    }

    fn cache_stats(&self) -> Option<(&'static str, Value)> {
        Some(("gmail", self.service.gmail().stats()))
    }
}
