//! The SmsOptOuts gRPC service, behind `commsctl sms optouts`.

use std::sync::Arc;

use commsd_proto::v1::{self, sms_opt_outs_server};
use tonic::{Request, Response, Status};

use super::caller;
use crate::accounts::Accounts;
use crate::twilio::optouts::{OptOut, OptOuts};

pub struct SmsOptOutsService {
    pub optouts: OptOuts,
    pub accounts: Arc<Accounts>,
}

impl From<OptOut> for v1::OptOut {
    fn from(o: OptOut) -> Self {
        v1::OptOut {
            account_id: o.account_id,
            sender: o.sender,
            number: o.number,
            source: o.source,
            updated_at: o.updated_at,
        }
    }
}

#[tonic::async_trait]
impl sms_opt_outs_server::SmsOptOuts for SmsOptOutsService {
    async fn list(
        &self,
        request: Request<v1::ListOptOutsRequest>,
    ) -> Result<Response<v1::ListOptOutsResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let account = match r.account.trim() {
            "" => None,
            name => Some(self.accounts.resolve(Some(name))?.id),
        };
        let list = self.optouts.list(&caller, account.as_deref()).await?;
        Ok(Response::new(v1::ListOptOutsResponse {
            opt_outs: list.into_iter().map(v1::OptOut::from).collect(),
        }))
    }

    async fn remove(
        &self,
        request: Request<v1::RemoveOptOutRequest>,
    ) -> Result<Response<v1::OptOut>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let account = self.accounts.resolve(Some(&r.account))?;
        let removed = self
            .optouts
            .remove(&caller, &account.id, &r.sender, &r.number, &r.reason)
            .await?;
        Ok(Response::new(removed.into()))
    }
}

pub struct SmsQuietHoursService(pub Arc<crate::twilio::quiet::Quiet>);

#[tonic::async_trait]
impl v1::sms_quiet_hours_server::SmsQuietHours for SmsQuietHoursService {
    async fn r#override(
        &self,
        request: Request<v1::QuietOverrideRequest>,
    ) -> Result<Response<v1::QuietOverrideResponse>, Status> {
        let caller = caller(&request);
        let item = self
            .0
            .override_item(&caller, &request.into_inner().item_id)
            .await?;
        Ok(Response::new(v1::QuietOverrideResponse {
            item_id: item.id,
            state: item.state.as_str().to_owned(),
        }))
    }
}
