//! Reference B: the floor, a raw 64-byte echo

use std::hint::black_box;
use std::io::{self, Read as _, Write as _};
use std::os::unix::net::{UnixListener as StdUnixListener, UnixStream as StdUnixStream};
use std::time::{Duration, Instant};

use tokio::net::{UnixListener, UnixStream};

use crate::{BoxError, CALLS, Result, WARMUP};

pub(crate) fn floor_std() -> Result<Vec<Duration>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("echo.sock");
    let listener = StdUnixListener::bind(&path)?;
    let server = std::thread::spawn(move || -> io::Result<()> {
        let (mut conn, _) = listener.accept()?;
        let mut buf = [0u8; 64];
        loop {
            match conn.read_exact(&mut buf) {
                Ok(()) => conn.write_all(&buf)?,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    });
    let mut conn = StdUnixStream::connect(&path)?;
    let msg = [7u8; 64];
    let mut buf = [0u8; 64];
    for _ in 0..WARMUP {
        conn.write_all(&msg)?;
        conn.read_exact(&mut buf)?;
    }
    let mut out = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        conn.write_all(&msg)?;
        conn.read_exact(&mut buf)?;
        out.push(t.elapsed());
        black_box(&buf);
    }
    drop(conn);
    server.join().map_err(|_| "echo thread panicked")??;
    Ok(out)
}

/// The same echo with tokio on both sides (each a current_thread runtime on
/// its own thread): the cost of the async reactor alone, without HTTP/2.
pub(crate) fn floor_tokio() -> Result<Vec<Duration>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("echo.sock");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let server_path = path.clone();
    let server = std::thread::spawn(move || -> Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let listener = UnixListener::bind(&server_path)?;
            let _ = ready_tx.send(());
            let (mut conn, _) = listener.accept().await?;
            let mut buf = [0u8; 64];
            loop {
                match conn.read_exact(&mut buf).await {
                    Ok(_) => conn.write_all(&buf).await?,
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
        })
    });
    ready_rx.recv()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(async {
        let mut conn = UnixStream::connect(&path).await?;
        let msg = [7u8; 64];
        let mut buf = [0u8; 64];
        for _ in 0..WARMUP {
            conn.write_all(&msg).await?;
            conn.read_exact(&mut buf).await?;
        }
        let mut out = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let t = Instant::now();
            conn.write_all(&msg).await?;
            conn.read_exact(&mut buf).await?;
            out.push(t.elapsed());
            black_box(&buf);
        }
        Ok::<_, BoxError>(out)
    })?;
    server.join().map_err(|_| "tokio echo thread panicked")??;
    Ok(out)
}
