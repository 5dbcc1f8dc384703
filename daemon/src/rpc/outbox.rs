//! The Outbox gRPC service.

use std::path::PathBuf;
use std::sync::Arc;

use commsd_proto::v1::{self, outbox_server};
use tonic::{Request, Response, Status};

use super::caller;
use super::convert::{filter_from_proto, priority_from_proto};
use crate::error::Error;
use crate::outbox::service::{
    BatchResult, EditRequest, Outbox, StageContent, StageRequest, Target,
};

pub struct OutboxService(pub Arc<Outbox>);

fn item(i: &crate::outbox::item::Item) -> v1::Item {
    v1::Item::from(i)
}

fn batch(results: Vec<BatchResult>) -> v1::BatchResponse {
    v1::BatchResponse {
        results: results
            .into_iter()
            .map(|r| v1::BatchResult {
                id: r.id,
                outcome: Some(match r.result {
                    Ok(i) => v1::batch_result::Outcome::Item(item(&i)),
                    Err(e) => v1::batch_result::Outcome::Error(v1::ErrorEnvelope::from(&e)),
                }),
            })
            .collect(),
    }
}

fn target(ids: Vec<String>, matching: Option<v1::ItemFilter>) -> Result<Target, Error> {
    match (ids.is_empty(), matching) {
        (false, None) => Ok(Target::Ids(ids)),
        (true, Some(f)) => Ok(Target::Matching(filter_from_proto(Some(f))?)),
        (true, None) => Err(Error::invalid("ids", "name at least one item, or a filter")),
        (false, Some(_)) => Err(Error::invalid(
            "matching",
            "give either ids or a filter, not both",
        )),
    }
}

#[tonic::async_trait]
impl outbox_server::Outbox for OutboxService {
    async fn stage(
        &self,
        request: Request<v1::StageRequest>,
    ) -> Result<Response<v1::StageResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let content = match r.content {
            Some(v1::stage_request::Content::Email(e)) => StageContent::Email {
                to: e.to,
                cc: e.cc,
                bcc: e.bcc,
                subject: e.subject,
                text: e.text,
                html: e.html,
                attachments: e.attachment_paths.into_iter().map(PathBuf::from).collect(),
            },
            Some(v1::stage_request::Content::Sms(s)) => StageContent::Sms {
                to: s.to,
                body: s.body,
            },
            Some(v1::stage_request::Content::Chat(c)) => StageContent::Chat {
                space: c.space,
                text: c.text,
                thread: c.thread,
                split: c.split,
            },
            None => return Err(Error::invalid("content", "expected email, sms or chat").into()),
        };
        let request = StageRequest {
            account: Some(r.account).filter(|a| !a.is_empty()),
            priority: priority_from_proto(r.priority)?.unwrap_or_default(),
            client_request_id: Some(r.client_request_id).filter(|c| !c.is_empty()),
            content,
        };
        let staged = self.0.stage(&caller, request).await?;
        Ok(Response::new(v1::StageResponse {
            item: Some(item(&staged.item)),
            existing: staged.existing,
        }))
    }

    async fn get(&self, request: Request<v1::ItemRef>) -> Result<Response<v1::Item>, Status> {
        let caller = caller(&request);
        let found = self.0.get(&caller, &request.into_inner().id).await?;
        Ok(Response::new(item(&found)))
    }

    async fn preview(
        &self,
        request: Request<v1::ItemRef>,
    ) -> Result<Response<v1::PreviewResponse>, Status> {
        let caller = caller(&request);
        let found = self.0.get(&caller, &request.into_inner().id).await?;
        Ok(Response::new(v1::PreviewResponse {
            text: Outbox::preview_text(&found),
            item: Some(item(&found)),
        }))
    }

    async fn list(
        &self,
        request: Request<v1::ListItemsRequest>,
    ) -> Result<Response<v1::ListItemsResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let limit = if r.limit == 0 { 50 } else { r.limit as usize };
        let page = self
            .0
            .list(
                &caller,
                filter_from_proto(r.filter)?,
                Some(&r.cursor),
                limit,
            )
            .await?;
        Ok(Response::new(v1::ListItemsResponse {
            items: page.items.iter().map(item).collect(),
            next_cursor: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn edit(&self, request: Request<v1::EditRequest>) -> Result<Response<v1::Item>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let edit = EditRequest {
            to: r.to.map(|l| l.values),
            cc: r.cc.map(|l| l.values),
            bcc: r.bcc.map(|l| l.values),
            subject: r.subject,
            text: r.text,
            html: r.html,
            body: r.body,
            priority: priority_from_proto(r.priority)?,
        };
        let edited = self.0.edit(&caller, &r.id, edit).await?;
        Ok(Response::new(item(&edited)))
    }

    async fn approve(
        &self,
        request: Request<v1::ApproveRequest>,
    ) -> Result<Response<v1::BatchResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let results = self.0.approve(&caller, target(r.ids, r.matching)?).await?;
        Ok(Response::new(batch(results)))
    }

    async fn reject(
        &self,
        request: Request<v1::RejectRequest>,
    ) -> Result<Response<v1::BatchResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let results = self
            .0
            .reject(&caller, target(r.ids, r.matching)?, &r.reason)
            .await?;
        Ok(Response::new(batch(results)))
    }

    async fn cancel(&self, request: Request<v1::ItemRef>) -> Result<Response<v1::Item>, Status> {
        let caller = caller(&request);
        let cancelled = self.0.cancel(&caller, &request.into_inner().id).await?;
        Ok(Response::new(item(&cancelled)))
    }

    async fn confirm(&self, request: Request<v1::ItemRef>) -> Result<Response<v1::Item>, Status> {
        let caller = caller(&request);
        let confirmed = self.0.confirm(&caller, &request.into_inner().id).await?;
        Ok(Response::new(item(&confirmed)))
    }
}
