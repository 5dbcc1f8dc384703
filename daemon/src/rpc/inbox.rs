//! The Inbox gRPC service, behind `commsctl inbox reindex`.

use std::sync::Arc;

use commsd_proto::v1::{self, inbox_server};
use tonic::{Request, Response, Status};

use super::caller;
use crate::inbox::Inbox;

pub struct InboxService(pub Arc<Inbox>);

#[tonic::async_trait]
impl inbox_server::Inbox for InboxService {
    async fn reindex(
        &self,
        request: Request<v1::ReindexRequest>,
    ) -> Result<Response<v1::ReindexResponse>, Status> {
        let caller = caller(&request);
        let account = request.into_inner().account;
        let account = Some(account.trim()).filter(|a| !a.is_empty());
        let done = self.0.reindex(&caller, account).await?;
        Ok(Response::new(v1::ReindexResponse {
            dropped: done.dropped,
            indexed: done.indexed,
            errors: done.errors,
        }))
    }
}
