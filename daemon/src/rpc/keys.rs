//! The Keys gRPC service.

use std::sync::Arc;
use std::time::Duration;

use commsd_proto::v1::{self, keys_server};
use tonic::{Request, Response, Status};

use super::caller;
use crate::api::keys::{KeyRecord, Keys};
use crate::auth::{Grant, Grants};
use crate::error::Error;
use crate::events::now_unix_ms;

pub struct KeysService(pub Arc<Keys>);

fn key(k: &KeyRecord) -> v1::ApiKey {
    v1::ApiKey {
        id: k.id.clone(),
        name: k.name.clone(),
        grants: k.grants.iter().map(|g| g.as_str().to_owned()).collect(),
        created_at_unix_ms: k.created_at_ms,
        expires_at_unix_ms: k.expires_at_ms,
        last_used_at_unix_ms: k.last_used_at_ms,
        revoked_at_unix_ms: k.revoked_at_ms,
        state: k.state(now_unix_ms()).to_owned(),
    }
}

fn ttl(seconds: u64) -> Option<Duration> {
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

fn grants(names: &[String]) -> Result<Grants, Error> {
    names
        .iter()
        .map(|n| {
            Grant::parse(n.trim()).ok_or_else(|| {
                Error::invalid(
                    "grants",
                    format!("unknown grant {n:?}; expected read, draft, stage, send or admin"),
                )
            })
        })
        .collect()
}

#[tonic::async_trait]
impl keys_server::Keys for KeysService {
    async fn create(
        &self,
        request: Request<v1::CreateKeyRequest>,
    ) -> Result<Response<v1::IssuedKey>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let (record, token) = self
            .0
            .create(&caller, &r.name, grants(&r.grants)?, ttl(r.expires_in_s))
            .await?;
        Ok(Response::new(v1::IssuedKey {
            key: Some(key(&record)),
            token,
        }))
    }

    async fn list(
        &self,
        request: Request<v1::ListKeysRequest>,
    ) -> Result<Response<v1::ListKeysResponse>, Status> {
        let caller = caller(&request);
        let keys = self.0.list(&caller)?;
        Ok(Response::new(v1::ListKeysResponse {
            keys: keys.iter().map(key).collect(),
        }))
    }

    async fn revoke(&self, request: Request<v1::KeyName>) -> Result<Response<v1::ApiKey>, Status> {
        let caller = caller(&request);
        let revoked = self.0.revoke(&caller, &request.into_inner().name).await?;
        Ok(Response::new(key(&revoked)))
    }

    async fn rotate(
        &self,
        request: Request<v1::RotateKeyRequest>,
    ) -> Result<Response<v1::IssuedKey>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let (record, token) = self.0.rotate(&caller, &r.name, ttl(r.expires_in_s)).await?;
        Ok(Response::new(v1::IssuedKey {
            key: Some(key(&record)),
            token,
        }))
    }
}
