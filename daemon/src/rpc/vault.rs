//! The Vault gRPC service: status, unlock, lock, migrate. Secret values never
//! cross it; the passphrase arrives over the 0600 socket and becomes a
//! [`Secret`] at once.

use commsd_proto::v1::{self, vault_server};
use tonic::{Request, Response, Status};

use crate::vault::{Backend, Secret, Vault, VaultStatus};

pub struct VaultService(pub Vault);

impl From<VaultStatus> for v1::VaultStatus {
    fn from(s: VaultStatus) -> Self {
        v1::VaultStatus {
            backend: s.backend.as_str().to_owned(),
            configured: match s.configured {
                crate::vault::BackendChoice::Auto => "auto",
                crate::vault::BackendChoice::Keyring => "keyring",
                crate::vault::BackendChoice::File => "file",
            }
            .to_owned(),
            state: s.state.as_str().to_owned(),
            reason: s.reason,
            hint: s.hint,
            location: s.location,
            entries: s.entries as u64,
            file_path: s.file.path,
            file_exists: s.file.exists,
            file_unlocked: s.file.unlocked,
            warnings: s.warnings,
        }
    }
}

#[tonic::async_trait]
impl vault_server::Vault for VaultService {
    async fn status(
        &self,
        _request: Request<v1::VaultStatusRequest>,
    ) -> Result<Response<v1::VaultStatus>, Status> {
        Ok(Response::new(self.0.status().await.into()))
    }

    async fn unlock(
        &self,
        request: Request<v1::VaultUnlockRequest>,
    ) -> Result<Response<v1::VaultStatus>, Status> {
        let passphrase = Secret::from(request.into_inner().passphrase);
        self.0.unlock(passphrase).await?;
        Ok(Response::new(self.0.status().await.into()))
    }

    async fn lock(
        &self,
        _request: Request<v1::VaultLockRequest>,
    ) -> Result<Response<v1::VaultStatus>, Status> {
        self.0.lock().await?;
        Ok(Response::new(self.0.status().await.into()))
    }

    async fn migrate(
        &self,
        request: Request<v1::VaultMigrateRequest>,
    ) -> Result<Response<v1::VaultMigrateResponse>, Status> {
        let to = Backend::parse("to", &request.into_inner().to)?;
        let report = self.0.migrate(to).await?;
        Ok(Response::new(v1::VaultMigrateResponse {
            from: report.from.as_str().to_owned(),
            to: report.to.as_str().to_owned(),
            moved: report.moved,
            missing: report.missing,
            status: Some(self.0.status().await.into()),
        }))
    }
}
