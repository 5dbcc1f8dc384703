//! The connection lettre drives for SMTP, with TLS done here, by the
//! account's own rustls configuration: lettre builds its TLS from its own
//! parameters, which cannot take a custom certificate verifier, so IMAP and
//! SMTP would not trust the same certificates. lettre gets the encrypted
//! stream instead.
//!
//! Implicit TLS: TCP, then the handshake. STARTTLS: the greeting, EHLO and
//! STARTTLS are spoken here in clear, then the handshake; the greeting is
//! replayed to lettre, which reads one before its EHLO (sent again, now
//! encrypted, as RFC 3207 requires).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::transport::smtp::client::AsyncTokioStream;
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::net::{self, Step, StepError};

/// A TLS stream, with the bytes of the clear-text greeting read back first.
pub struct Encrypted {
    replay: Vec<u8>,
    replayed: usize,
    tls: Box<TlsStream<TcpStream>>,
    peer: SocketAddr,
}

impl std::fmt::Debug for Encrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encrypted")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for Encrypted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.replayed < this.replay.len() {
            let rest = &this.replay[this.replayed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(this.tls.as_mut()).poll_read(cx, buf)
    }
}

impl AsyncWrite for Encrypted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(self.tls.as_mut()).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(self.tls.as_mut()).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(self.tls.as_mut()).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Encrypted {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.peer)
    }
}

/// TCP, then TLS from the first byte.
pub async fn implicit(
    tls: &Arc<rustls::ClientConfig>,
    host: &str,
    tcp: TcpStream,
    limit: Duration,
) -> Result<Encrypted, StepError> {
    let peer = peer(&tcp)?;
    let tls = net::tls(tls.clone(), host, tcp, limit).await?;
    Ok(Encrypted {
        replay: Vec::new(),
        replayed: 0,
        tls: Box::new(tls),
        peer,
    })
}

/// Greeting, EHLO and STARTTLS in clear, then TLS. A server that does not
/// offer STARTTLS is refused: the password is never sent unencrypted.
pub async fn starttls(
    tls: &Arc<rustls::ClientConfig>,
    host: &str,
    tcp: TcpStream,
    hello: &ClientId,
    limit: Duration,
) -> Result<Encrypted, StepError> {
    let peer = peer(&tcp)?;
    let mut io = BufReader::new(tcp);
    let greeting = net::step(Step::Greeting, limit, async {
        let greeting = read_reply(&mut io)
            .await
            .map_err(|why| StepError::new(Step::Greeting, why, true))?;
        match greeting.code {
            220 => Ok(greeting),
            code => Err(StepError::new(
                Step::Greeting,
                format!("the server said: {}", greeting.text()),
                (400..500).contains(&code),
            )),
        }
    })
    .await?;
    net::step(Step::Starttls, limit, async {
        let failed = |why: String| StepError::new(Step::Starttls, why, false);
        let ehlo = command(&mut io, &format!("EHLO {hello}"))
            .await
            .map_err(failed)?;
        if ehlo.code != 250 {
            return Err(failed(format!("EHLO: the server said: {}", ehlo.text())));
        }
        let offered = ehlo.lines.iter().skip(1).any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("STARTTLS"))
        });
        if !offered {
            return Err(failed(
                "the server does not offer STARTTLS; refusing to send the password unencrypted"
                    .to_owned(),
            ));
        }
        let reply = command(&mut io, "STARTTLS").await.map_err(failed)?;
        if reply.code != 220 {
            return Err(failed(format!(
                "the server refused STARTTLS: {}",
                reply.text()
            )));
        }
        if !io.buffer().is_empty() {
            // Anything the server sent before the handshake could have been
            // put there by someone on the path (CVE-2011-0411's kind).
            return Err(failed(
                "the server sent data after accepting STARTTLS, before the TLS handshake"
                    .to_owned(),
            ));
        }
        Ok(())
    })
    .await?;
    let tls = net::tls(tls.clone(), host, io.into_inner(), limit).await?;
    Ok(Encrypted {
        replay: greeting.raw,
        replayed: 0,
        tls: Box::new(tls),
        peer,
    })
}

fn peer(tcp: &TcpStream) -> Result<SocketAddr, StepError> {
    tcp.peer_addr()
        .map_err(|e| StepError::new(Step::TcpConnect, e.to_string(), true))
}

/// An SMTP reply: its code, its lines' texts, and the bytes as received.
struct Reply {
    code: u16,
    /// Each line without the code and separator.
    lines: Vec<String>,
    raw: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" "))
    }
}

/// Longest reply line accepted (RFC 5321 allows 512 octets).
const MAX_LINE: u64 = 2048;
/// Most lines in one reply.
const MAX_LINES: usize = 100;

async fn command(io: &mut BufReader<TcpStream>, line: &str) -> Result<Reply, String> {
    io.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .map_err(|e| format!("connection lost: {e}"))?;
    read_reply(io).await
}

async fn read_reply(io: &mut BufReader<TcpStream>) -> Result<Reply, String> {
    let mut reply = Reply {
        code: 0,
        lines: Vec::new(),
        raw: Vec::new(),
    };
    loop {
        let mut line = String::new();
        let n = (&mut *io)
            .take(MAX_LINE)
            .read_line(&mut line)
            .await
            .map_err(|e| format!("connection lost: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".to_owned());
        }
        if !line.ends_with('\n') {
            return Err(format!("a reply line longer than {MAX_LINE} bytes"));
        }
        reply.raw.extend_from_slice(line.as_bytes());
        let text = line.trim_end_matches(['\r', '\n']);
        let code = text
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (200..600).contains(c))
            .ok_or_else(|| format!("not an SMTP reply: {:?}", clip(text)))?;
        if reply.code != 0 && code != reply.code {
            return Err(format!("a reply mixing codes {} and {code}", reply.code));
        }
        reply.code = code;
        reply
            .lines
            .push(text.get(4..).unwrap_or_default().to_owned());
        match text.as_bytes().get(3) {
            Some(b'-') if reply.lines.len() < MAX_LINES => {}
            Some(b'-') => return Err(format!("a reply of more than {MAX_LINES} lines")),
            _ => return Ok(reply),
        }
    }
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that writes the first chunk, then each further chunk after
    /// reading a command line, and keeps the connection open.
    async fn server(chunks: Vec<Vec<u8>>) -> TcpStream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut s = BufReader::new(s);
            for (i, chunk) in chunks.iter().enumerate() {
                if i > 0 {
                    let mut line = String::new();
                    s.read_line(&mut line).await.unwrap();
                }
                s.get_mut().write_all(chunk).await.unwrap();
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        TcpStream::connect(addr).await.unwrap()
    }

    fn chunks(parts: &[&[u8]]) -> Vec<Vec<u8>> {
        parts.iter().map(|p| p.to_vec()).collect()
    }

    async fn starttls_with(parts: &[&[u8]]) -> StepError {
        let tcp = server(chunks(parts)).await;
        let tls = super::super::trust::tls_config(None, None).unwrap();
        starttls(
            &tls,
            "localhost",
            tcp,
            &ClientId::Domain("example.org".into()),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err()
    }

    #[tokio::test]
    async fn multi_line_replies_are_read_whole() {
        let script = b"250-mail.example.org hello\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n";
        let mut io = BufReader::new(server(chunks(&[script])).await);
        let r = read_reply(&mut io).await.unwrap();
        assert_eq!(r.code, 250);
        assert_eq!(
            r.lines,
            ["mail.example.org hello", "STARTTLS", "AUTH PLAIN"]
        );
        assert_eq!(r.raw, script);
    }

    #[tokio::test]
    async fn malformed_replies_are_refused() {
        let long = [vec![b'2', b'5', b'0', b' '], vec![b'a'; 3000]].concat();
        for (script, why) in [
            (b"hello\r\n".to_vec(), "not an SMTP reply"),
            (b"250-a\r\n354 b\r\n".to_vec(), "mixing codes"),
            (long, "longer than"),
        ] {
            let mut io = BufReader::new(server(vec![script]).await);
            let e = read_reply(&mut io).await.err().unwrap_or_default();
            assert!(e.contains(why), "{e:?}, expected {why:?}");
        }
    }

    #[tokio::test]
    async fn a_server_without_starttls_is_refused_before_any_handshake() {
        let e =
            starttls_with(&[b"220 hi\r\n", b"250-mail.example.org\r\n250 AUTH PLAIN\r\n"]).await;
        assert_eq!(e.step, Step::Starttls);
        assert!(e.reason.contains("does not offer STARTTLS"), "{e:?}");
        let e = starttls_with(&[b"554 go away\r\n"]).await;
        assert_eq!((e.step, e.transient), (Step::Greeting, false), "{e:?}");
    }

    #[tokio::test]
    async fn bytes_after_the_starttls_answer_are_refused() {
        let e = starttls_with(&[
            b"220 hi\r\n",
            b"250-mail.example.org\r\n250 STARTTLS\r\n",
            b"220 go ahead\r\n250 injected\r\n",
        ])
        .await;
        assert_eq!(e.step, Step::Starttls);
        assert!(e.reason.contains("before the TLS handshake"), "{e:?}");
    }
}
