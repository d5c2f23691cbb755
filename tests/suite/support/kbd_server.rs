//! A keyboard-interactive server with a second factor, in process, on 127.0.0.1: it asks
//! `Password: ` and then `Verification code: ` (both hidden), as sshd with PAM and an
//! authenticator module does, which the test sshd (UsePAM no) cannot. Built on russh's server;
//! it records every answer it was sent, so a test can tell what reached the server.

use std::borrow::Cow;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::server::{Auth, Handler, Response, Server};

/// The answers the server was sent, one list per round, in order.
pub type Answers = Arc<Mutex<Vec<Vec<String>>>>;

#[derive(Clone)]
struct TwoFactor {
    password: &'static str,
    code: &'static str,
    round: usize,
    answers: Answers,
}

fn prompt(text: &'static str) -> Auth {
    Auth::Partial {
        name: Cow::Borrowed(""),
        instructions: Cow::Borrowed(""),
        prompts: Cow::Owned(vec![(Cow::Borrowed(text), false)]),
    }
}

impl Handler for TwoFactor {
    type Error = russh::Error;

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        _user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let Some(response) = response else {
            self.round = 0;
            return Ok(prompt("Password: "));
        };
        let got: Vec<String> = response
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        if let Ok(mut a) = self.answers.lock() {
            a.push(got.clone());
        }
        self.round += 1;
        Ok(match (self.round, got.first().map(String::as_str)) {
            (1, Some(p)) if p == self.password => prompt("Verification code: "),
            (2, Some(c)) if c == self.code => Auth::Accept,
            _ => Auth::reject(),
        })
    }
}

impl Server for TwoFactor {
    type Handler = TwoFactor;
    fn new_client(&mut self, _peer: Option<std::net::SocketAddr>) -> TwoFactor {
        self.clone()
    }
}

/// Starts the server (for as long as the test process lives) with `host_key` (an ed25519
/// private key file), taking `password` then `code`. Returns its port and what it receives.
pub fn start(host_key: &Path, password: &'static str, code: &'static str) -> (u16, Answers) {
    let host = russh::keys::load_secret_key(host_key, None).expect("host key");
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let config = Arc::new(russh::server::Config {
        methods: russh::MethodSet::from(&[russh::MethodKind::KeyboardInteractive][..]),
        auth_rejection_time: Duration::from_millis(5),
        auth_rejection_time_initial: Some(Duration::from_millis(5)),
        keys: vec![host],
        ..Default::default()
    });
    let answers: Answers = Arc::default();
    let mut server = TwoFactor {
        password,
        code,
        round: 0,
        answers: answers.clone(),
    };
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let socket = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let _ = server.run_on_socket(config, &socket).await;
        });
    });
    (port, answers)
}
