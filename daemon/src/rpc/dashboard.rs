//! The Dashboard gRPC service: one-time login links for the human here.

use std::sync::Arc;

use commsd_proto::v1::{self, dashboard_server};
use tonic::{Request, Response, Status};

use super::caller;
use crate::dashboard::Sessions;

pub struct DashboardService {
    pub sessions: Arc<Sessions>,
    pub base_url: String,
}

#[tonic::async_trait]
impl dashboard_server::Dashboard for DashboardService {
    async fn create_login(
        &self,
        request: Request<v1::CreateLoginRequest>,
    ) -> Result<Response<v1::CreateLoginResponse>, Status> {
        let caller = caller(&request);
        let next = request.into_inner().next;
        let login = self.sessions.create_login(&caller.actor);
        let mut url = format!("{}/login?token={}", self.base_url, login.token);
        if next.starts_with('/') && !next.starts_with("//") {
            url.push_str("&next=");
            url.push_str(&next.replace('&', "%26").replace('#', "%23"));
        }
        Ok(Response::new(v1::CreateLoginResponse {
            url,
            expires_at_unix_ms: login.expires_at_ms,
        }))
    }
}
