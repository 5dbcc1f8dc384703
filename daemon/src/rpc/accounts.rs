//! The Accounts gRPC service: thin adapter over `accounts::service`.

use std::sync::Arc;
use std::time::Duration;

use commsd_proto::v1::{self, accounts_server};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tonic::{Request, Response, Status};

use super::caller;
use crate::accounts::Account;
use crate::accounts::oauth::{ClientStatus, FlowRequest};
use crate::accounts::service::AccountService;

pub struct AccountsService(pub Arc<AccountService>);

impl From<&Account> for v1::Account {
    fn from(a: &Account) -> Self {
        v1::Account {
            id: a.id.clone(),
            kind: a.kind.as_str().to_owned(),
            email: a.email.clone(),
            labels: a.labels.clone(),
            default: a.default,
            channels: a.channels.iter().map(|c| (*c).to_owned()).collect(),
            tier: a.tier.map(u32::from),
            modules: a.modules.iter().map(|m| (*m).to_owned()).collect(),
            scopes: a.scopes.clone(),
            state: a.state.as_str().to_owned(),
            state_reason: a.state_reason.clone(),
            settings_json: if a.settings.is_null() {
                String::new()
            } else {
                a.settings.to_string()
            },
            created_at: a.created_at.clone(),
            last_used_at: a.last_used_at.clone(),
        }
    }
}

impl From<ClientStatus> for v1::OAuthClient {
    fn from(c: ClientStatus) -> Self {
        v1::OAuthClient {
            configured: c.configured,
            client_id: c.client_id,
            auth_endpoint: c.auth_endpoint,
            token_endpoint: c.token_endpoint,
        }
    }
}

#[tonic::async_trait]
impl accounts_server::Accounts for AccountsService {
    async fn list(
        &self,
        request: Request<v1::ListAccountsRequest>,
    ) -> Result<Response<v1::ListAccountsResponse>, Status> {
        let accounts = self.0.list(&caller(&request))?;
        Ok(Response::new(v1::ListAccountsResponse {
            accounts: accounts.iter().map(v1::Account::from).collect(),
        }))
    }

    type AddGoogleStream = BoxStream<'static, Result<v1::AddGoogleEvent, Status>>;

    async fn add_google(
        &self,
        request: Request<v1::AddGoogleRequest>,
    ) -> Result<Response<Self::AddGoogleStream>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let started = self
            .0
            .add_google(
                &caller,
                FlowRequest {
                    labels: r.labels,
                    tier: if r.tier == 0 {
                        1
                    } else {
                        r.tier.min(255) as u8
                    },
                    modules: r.modules,
                    login_hint: r.login_hint.filter(|h| !h.is_empty()),
                    timeout: (r.timeout_s > 0).then(|| Duration::from_secs(r.timeout_s.into())),
                },
            )
            .await?;
        let service = self.0.clone();
        let flow_id = started.flow_id.clone();
        let first = v1::AddGoogleEvent {
            kind: Some(v1::add_google_event::Kind::Started(v1::SignInStarted {
                flow_id: started.flow_id,
                auth_url: started.auth_url,
                redirect_uri: started.redirect_uri,
                expires_at: started.expires_at,
                scopes: started.scopes,
            })),
        };
        let last = async move {
            service
                .wait_google(&flow_id)
                .await
                .map(|done| v1::AddGoogleEvent {
                    kind: Some(v1::add_google_event::Kind::Done(v1::SignInDone {
                        account: Some(v1::Account::from(&done.account)),
                        existed: done.existed,
                        warnings: done.warnings,
                    })),
                })
                .map_err(Status::from)
        };
        let stream = futures_util::stream::once(async move { Ok(first) })
            .chain(futures_util::stream::once(last));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn complete_google(
        &self,
        request: Request<v1::CompleteGoogleRequest>,
    ) -> Result<Response<v1::Account>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let done = self
            .0
            .complete_google(&caller, &r.flow_id, &r.pasted)
            .await?;
        Ok(Response::new(v1::Account::from(&done.account)))
    }

    async fn add_imap(
        &self,
        request: Request<v1::AddImapRequest>,
    ) -> Result<Response<v1::AddImapResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let added = self
            .0
            .add_imap(
                &caller,
                crate::mail::add::AddImap {
                    email: r.email,
                    imap_host: r.imap_host,
                    imap_port: (r.imap_port != 0).then_some(r.imap_port),
                    smtp_host: r.smtp_host,
                    smtp_port: (r.smtp_port != 0).then_some(r.smtp_port),
                    security: Some(r.security),
                    username: r.username,
                    ca_file: r.ca_file,
                    pin_sha256: r.pin_sha256,
                    oauth_account: r.oauth_account,
                    labels: r.labels,
                    password: Some(crate::vault::Secret::from(r.password)),
                },
            )
            .await?;
        Ok(Response::new(v1::AddImapResponse {
            account: Some(v1::Account::from(&added.account)),
            existed: added.existed,
            imap: added.test.imap,
            smtp: added.test.smtp,
        }))
    }

    async fn add_chat_webhook(
        &self,
        request: Request<v1::AddChatWebhookRequest>,
    ) -> Result<Response<v1::AddChatWebhookResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let added = crate::chat::accounts::add_webhook(
            &self.0,
            &caller,
            crate::chat::accounts::AddWebhook {
                label: r.label,
                space_name: r.space_name,
                url: crate::vault::Secret::from(r.url),
                test: r.test,
            },
        )
        .await?;
        Ok(Response::new(v1::AddChatWebhookResponse {
            account: Some(v1::Account::from(&added.account)),
            existed: added.existed,
            test_message: added.test_message,
        }))
    }

    async fn add_twilio(
        &self,
        request: Request<v1::AddTwilioRequest>,
    ) -> Result<Response<v1::AddTwilioResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let added = self
            .0
            .add_twilio(
                &caller,
                crate::twilio::accounts::AddTwilio {
                    account_sid: r.account_sid,
                    api_key_sid: r.api_key_sid,
                    from: r.from,
                    messaging_service_sid: r.messaging_service_sid,
                    labels: r.labels,
                    secret: crate::vault::Secret::from(r.secret),
                },
            )
            .await?;
        Ok(Response::new(v1::AddTwilioResponse {
            account: Some(v1::Account::from(&added.account)),
            existed: added.existed,
            friendly_name: added.friendly_name,
        }))
    }

    async fn set_labels(
        &self,
        request: Request<v1::SetLabelsRequest>,
    ) -> Result<Response<v1::Account>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let account = self.0.set_labels(&caller, &r.account, r.labels).await?;
        Ok(Response::new(v1::Account::from(&account)))
    }

    async fn set_default(
        &self,
        request: Request<v1::AccountRef>,
    ) -> Result<Response<v1::Account>, Status> {
        let caller = caller(&request);
        let account = self
            .0
            .set_default(&caller, &request.into_inner().account)
            .await?;
        Ok(Response::new(v1::Account::from(&account)))
    }

    async fn remove(
        &self,
        request: Request<v1::AccountRef>,
    ) -> Result<Response<v1::RemovedAccount>, Status> {
        let caller = caller(&request);
        let removed = self
            .0
            .remove(&caller, &request.into_inner().account)
            .await?;
        Ok(Response::new(v1::RemovedAccount {
            account: Some(v1::Account::from(&removed.account)),
            revoked: removed.revoked,
            revoke_error: removed.revoke_error,
        }))
    }

    async fn client_status(
        &self,
        request: Request<v1::ClientStatusRequest>,
    ) -> Result<Response<v1::OAuthClient>, Status> {
        Ok(Response::new(
            self.0.client_status(&caller(&request)).await?.into(),
        ))
    }

    async fn import_client(
        &self,
        request: Request<v1::ImportClientRequest>,
    ) -> Result<Response<v1::OAuthClient>, Status> {
        let caller = caller(&request);
        let status = self
            .0
            .import_client(&caller, &request.into_inner().json)
            .await?;
        Ok(Response::new(status.into()))
    }

    async fn set_client(
        &self,
        request: Request<v1::SetClientRequest>,
    ) -> Result<Response<v1::OAuthClient>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let status = self
            .0
            .set_client(&caller, &r.client_id, &r.client_secret)
            .await?;
        Ok(Response::new(status.into()))
    }
}
