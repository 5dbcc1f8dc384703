//! The Contacts gRPC service: `commsctl contacts sync` with its progress.
//! The sync runs in its own task, so a client that hangs up mid-sync
//! leaves it to finish (its pages are stored either way); progress and the
//! summary are sent while the client listens. At shutdown the stream ends
//! at once (`unavailable`): the sync resumes at its stored page next start.

use std::pin::Pin;
use std::sync::Arc;

use commsd_proto::v1::{self, contacts_server, contacts_sync_update::Update};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::caller;
use crate::contacts::service::{ContactsService, SyncInput};
use crate::contacts::sync::Progress;

pub struct ContactsRpc {
    pub service: Arc<ContactsService>,
    pub shutdown: CancellationToken,
}

type SyncStream = Pin<Box<dyn Stream<Item = Result<v1::ContactsSyncUpdate, Status>> + Send>>;

fn progress(p: Progress) -> v1::ContactsSyncUpdate {
    v1::ContactsSyncUpdate {
        update: Some(Update::Progress(v1::ContactsSyncProgress {
            account: p.account,
            source: p.source.as_str().to_owned(),
            page: p.page,
            stored: p.stored,
            deleted: p.deleted,
            total: p.total,
            resumed: p.resumed,
        })),
    }
}

#[tonic::async_trait]
impl contacts_server::Contacts for ContactsRpc {
    type SyncStream = SyncStream;

    async fn sync(
        &self,
        request: Request<v1::ContactsSyncRequest>,
    ) -> Result<Response<Self::SyncStream>, Status> {
        let caller = caller(&request);
        let account = request.into_inner().account;
        let input = SyncInput {
            account_id: Some(account).filter(|a| !a.trim().is_empty()),
        };
        let (out, stream) = mpsc::channel(64);
        let (tx, mut rx) = mpsc::unbounded_channel::<Progress>();
        let service = self.service.clone();
        let shutdown = self.shutdown.clone();
        let run = tokio::spawn(async move { service.sync(&caller, input, &Some(tx)).await });
        tokio::spawn(async move {
            // The progress channel closes when the sync returns (its sender
            // is dropped with the sync's future).
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => {
                        let _ = out.send(Err(Status::unavailable(
                            "the daemon is shutting down; the contacts sync resumes at its stored page when it starts again",
                        ))).await;
                        return;
                    }
                    p = rx.recv() => match p {
                        Some(p) => { let _ = out.send(Ok(progress(p))).await; }
                        None => break,
                    },
                }
            }
            let last = match run.await {
                Ok(Ok(summary)) => Ok(v1::ContactsSyncUpdate {
                    update: Some(Update::SummaryJson(summary.to_string())),
                }),
                Ok(Err(e)) => Err(Status::from(e)),
                Err(e) => Err(Status::internal(format!("the contacts sync stopped: {e}"))),
            };
            let _ = out.send(last).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(stream))))
    }
}
