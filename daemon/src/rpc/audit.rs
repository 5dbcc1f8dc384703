//! The Audit gRPC service.

use commsd_proto::v1::{self, audit_server};
use tonic::{Request, Response, Status};

use super::caller;
use crate::audit::Filter;
use crate::audit::service::{AuditLog, LIMIT_DEFAULT};

pub struct AuditService(pub AuditLog);

#[tonic::async_trait]
impl audit_server::Audit for AuditService {
    async fn list(
        &self,
        request: Request<v1::ListAuditRequest>,
    ) -> Result<Response<v1::ListAuditResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let filter = Filter {
            since_ms: (r.since_unix_ms > 0).then_some(r.since_unix_ms),
            before_seq: (r.before_seq > 0).then_some(r.before_seq),
            item_id: Some(r.item_id).filter(|i| !i.is_empty()),
            limit: if r.limit == 0 {
                LIMIT_DEFAULT
            } else {
                r.limit as usize
            },
        };
        let events = self.0.list(&caller, filter).await?;
        Ok(Response::new(v1::ListAuditResponse {
            events: events.into_iter().map(v1::AuditEvent::from).collect(),
        }))
    }

    async fn verify(
        &self,
        request: Request<v1::VerifyAuditRequest>,
    ) -> Result<Response<v1::VerifyAuditResponse>, Status> {
        let caller = caller(&request);
        let v = self.0.verify(&caller).await?;
        Ok(Response::new(v1::VerifyAuditResponse {
            rows: v.rows,
            ok: v.first_bad.is_none(),
            first_bad_seq: v.first_bad.as_ref().map_or(0, |b| b.seq),
            reason: v.first_bad.map(|b| b.reason).unwrap_or_default(),
        }))
    }
}
