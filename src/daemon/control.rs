//! The control socket: a Unix stream socket the daemon listens on and the
//! CLI verbs talk to. One JSON request line, one JSON response line
//! (serde). Only root may use it: the socket is mode 0600 in a 0700
//! directory, and every peer's credentials (SO_PEERCRED) are checked too.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel;
use serde::{Deserialize, Serialize};

use crate::sys::peercred;

/// Where `flypaper run` listens by default.
pub const DEFAULT_SOCKET: &str = "/run/flypaper/control.sock";

/// A request line's limit: requests are a few dozen bytes.
const MAX_REQUEST: u64 = 64 * 1024;

/// What a CLI verb asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "lowercase")]
pub enum Request {
    Status,
    List,
    /// Free the fly an address belongs to, or every fly in a prefix.
    Free {
        target: String,
    },
    /// Lock out an address or prefix (an operator's block) for `for_s`
    /// seconds (default: the policy's lock-out).
    Block {
        target: String,
        for_s: Option<u64>,
    },
    Flush,
    Stats,
    /// Read the policy file again and apply it (as SIGHUP does).
    Reload,
    Stop,
}

/// The answer to a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub data: serde_json::Value,
}

impl Response {
    pub fn ok(data: serde_json::Value) -> Response {
        Response {
            ok: true,
            error: None,
            data,
        }
    }

    pub fn err(msg: impl Into<String>) -> Response {
        Response {
            ok: false,
            error: Some(msg.into()),
            data: serde_json::Value::Null,
        }
    }
}

/// A request from the socket thread to the control loop, with where to
/// send the answer.
pub type Command = (Request, channel::Sender<Response>);

/// The listening side: a thread that accepts connections, checks each
/// peer, and hands requests to the control loop.
pub struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Listen on `path` (its directory is created 0700 if missing). A
    /// socket file left by a killed daemon is replaced; one a running
    /// daemon answers on is an error.
    pub fn start(path: &Path, commands: channel::Sender<Command>) -> io::Result<Server> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir)?;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "{}: another flypaper daemon is running (its control socket answers)",
                        path.display()
                    ),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("flypaper-control".into())
            .spawn(move || accept_loop(listener, &flag, &commands))?;
        Ok(Server {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn accept_loop(listener: UnixListener, stop: &AtomicBool, commands: &channel::Sender<Command>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((s, _)) => {
                if let Err(e) = serve(s, commands) {
                    println!("control socket: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                println!("control socket: accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// One connection: check the peer, read one request, answer it.
fn serve(s: UnixStream, commands: &channel::Sender<Command>) -> io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut out = s.try_clone()?;
    let answer = match peercred::peer_uid(&s) {
        Ok(0) => {
            let mut line = String::new();
            BufReader::new((&s).take(MAX_REQUEST)).read_line(&mut line)?;
            match serde_json::from_str::<Request>(line.trim()) {
                Ok(req) => {
                    let (tx, rx) = channel::bounded(1);
                    if commands.send((req, tx)).is_err() {
                        Response::err("the daemon is stopping")
                    } else {
                        rx.recv_timeout(Duration::from_secs(10))
                            .unwrap_or_else(|_| Response::err("the daemon did not answer in 10 s"))
                    }
                }
                Err(e) => Response::err(format!("bad request: {e}")),
            }
        }
        Ok(uid) => Response::err(format!(
            "permission denied: the control socket takes root only (you are uid {uid})"
        )),
        Err(e) => Response::err(format!("cannot tell who you are: {e}")),
    };
    let mut text = serde_json::to_string(&answer).map_err(io::Error::other)?;
    text.push('\n');
    out.write_all(text.as_bytes())
}

/// Send one request to the daemon at `path` and read its answer.
pub fn request(path: &Path, req: &Request) -> Result<Response, String> {
    let mut s = UnixStream::connect(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => format!(
            "no flypaper daemon is running (nothing answers on {})",
            path.display()
        ),
        io::ErrorKind::PermissionDenied => format!(
            "{}: permission denied: the control socket takes root only",
            path.display()
        ),
        _ => format!("{}: {e}", path.display()),
    })?;
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .map_err(|e| e.to_string())?;
    let mut text = serde_json::to_string(req).map_err(|e| e.to_string())?;
    text.push('\n');
    s.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut line = String::new();
    BufReader::new(&s)
        .read_line(&mut line)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(line.trim()).map_err(|e| format!("bad answer from the daemon: {e}"))
}

#[cfg(test)]
mod test {
    use super::*;

    /// A socket path in a directory of its own, removed when dropped.
    struct Tmp(PathBuf);

    impl Drop for Tmp {
        fn drop(&mut self) {
            if let Some(d) = self.0.parent() {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }

    fn tmp(name: &str) -> Tmp {
        Tmp(std::env::temp_dir()
            .join(format!("flypaper-control-{}-{name}", std::process::id()))
            .join("control.sock"))
    }

    #[test]
    fn requests_round_trip_as_json_lines() {
        for r in [
            Request::Status,
            Request::List,
            Request::Free {
                target: "2001:db8::/64".into(),
            },
            Request::Block {
                target: "203.0.113.9".into(),
                for_s: Some(60),
            },
            Request::Flush,
            Request::Stats,
            Request::Reload,
            Request::Stop,
        ] {
            let j = serde_json::to_string(&r).unwrap();
            assert!(!j.contains('\n'));
            assert_eq!(serde_json::from_str::<Request>(&j).unwrap(), r);
        }
        assert_eq!(
            serde_json::to_string(&Request::List).unwrap(),
            r#"{"verb":"list"}"#
        );
    }

    #[test]
    fn the_server_answers_through_the_control_loop_and_cleans_up() {
        let dir = tmp("serve");
        let path = dir.0.clone();
        let (tx, rx) = channel::bounded::<Command>(4);
        let server = Server::start(&path, tx).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loop_thread = std::thread::spawn(move || {
            let (req, reply) = rx.recv().unwrap();
            let _ = reply.send(Response::ok(
                serde_json::json!({ "got": format!("{req:?}") }),
            ));
        });
        // This test runs as root in CI (the peer check lets root through);
        // as another user the server must refuse.
        let r = request(&path, &Request::List).unwrap();
        if peercred::euid() == 0 {
            assert!(r.ok, "{r:?}");
            assert_eq!(r.data["got"], "List");
            loop_thread.join().unwrap();
        } else {
            assert!(!r.ok && r.error.unwrap().contains("root only"));
        }
        // A second daemon on the same path is refused.
        let (tx2, _rx2) = channel::bounded::<Command>(1);
        let e = Server::start(&path, tx2).err().expect("refused");
        assert!(e.to_string().contains("another flypaper daemon"), "{e}");
        drop(server);
        assert!(!path.exists(), "the socket file is removed");
        let e = request(&path, &Request::List).unwrap_err();
        assert!(e.contains("no flypaper daemon is running"), "{e}");
    }

    #[test]
    fn a_stale_socket_file_is_replaced() {
        let dir = tmp("stale");
        let path = dir.0.clone();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // A socket nobody listens on any more.
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let (tx, _rx) = channel::bounded::<Command>(1);
        let server = Server::start(&path, tx).expect("replaces the stale file");
        drop(server);
    }
}
