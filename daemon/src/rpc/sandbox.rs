//! The Sandbox gRPC service: `Receive`, behind `commsctl sandbox receive`.

use std::sync::Arc;

use commsd_proto::v1::{self, sandbox_server};
use tonic::{Request, Response, Status};

use super::caller;
use crate::sandbox::SandboxInbox;
use crate::sandbox::inbox::{Receipt, ReceiveRequest};

pub struct SandboxService(pub Arc<SandboxInbox>);

impl From<v1::ReceiveRequest> for ReceiveRequest {
    fn from(r: v1::ReceiveRequest) -> Self {
        ReceiveRequest {
            channel: r.channel,
            from: r.from,
            to: r.to,
            subject: r.subject,
            body: r.body,
            space: r.space,
        }
    }
}

impl From<Receipt> for v1::ReceiveResponse {
    fn from(r: Receipt) -> Self {
        v1::ReceiveResponse {
            channel: r.channel,
            account_id: r.account_id,
            id: r.id,
            received_at: r.received_at,
        }
    }
}

#[tonic::async_trait]
impl sandbox_server::Sandbox for SandboxService {
    async fn receive(
        &self,
        request: Request<v1::ReceiveRequest>,
    ) -> Result<Response<v1::ReceiveResponse>, Status> {
        let caller = caller(&request);
        let receipt = self.0.receive(&caller, request.into_inner().into()).await?;
        Ok(Response::new(receipt.into()))
    }
}
