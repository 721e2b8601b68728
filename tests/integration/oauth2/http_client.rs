//! `HttpOAuth2Client`, the adapter that talks to providers, against raw
//! HTTP/1.1 servers on 127.0.0.1 that answer whatever a test needs: what
//! it sends (User-Agent, bearer token, Accept, the token form), redirects
//! not followed, the 1 MiB answer cap, the total and connect timeouts, and
//! error messages that never echo codes, tokens, URLs or bodies.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authgate_adapters::oauth2::{HttpOAuth2Client, MAX_ANSWER_BYTES};
use authgate_core::oauth2::{ClientAuth, HttpError, OAuth2Client, TokenRequest};
use authgate_core::secret::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const USER_AGENT: &str = concat!("Authgate/", env!("CARGO_PKG_VERSION"));

/// What a mock does with each connection.
#[derive(Clone)]
enum Answer {
    /// Reads the request, writes these bytes, closes.
    Bytes(Vec<u8>),
    /// Reads the request, writes these bytes, then keeps the connection
    /// open without writing more.
    ThenStall(Vec<u8>),
    /// Accepts the connection and never reads or writes (a stuck TLS
    /// handshake for an `https://` URL).
    Silent,
}

/// A response with `Connection: close` and a Content-Length.
fn http(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn json(status: &str, body: &str) -> Answer {
    Answer::Bytes(http(
        status,
        &[("content-type", "application/json")],
        body.as_bytes(),
    ))
}

struct Mock {
    base: String,
    /// Each request received: head (lowercased) and body.
    requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl Mock {
    fn requests(&self) -> Vec<(String, String)> {
        self.requests.lock().expect("requests").clone()
    }
}

async fn mock(answer: Answer) -> Mock {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, answer.clone(), seen.clone()));
        }
    });
    Mock { base, requests }
}

async fn serve(mut stream: TcpStream, answer: Answer, seen: Arc<Mutex<Vec<(String, String)>>>) {
    if let Answer::Silent = answer {
        tokio::time::sleep(Duration::from_secs(60)).await;
        return;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    seen.lock().expect("requests").push((head, body));
    match answer {
        Answer::Bytes(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Answer::ThenStall(bytes) => {
            let _ = stream.write_all(&bytes).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Answer::Silent => {}
    }
}

fn client() -> HttpOAuth2Client {
    HttpOAuth2Client::new().expect("OAuth2 client")
}

fn token_request<'a>(token_url: &'a str, secret: &'a Secret) -> TokenRequest<'a> {
    TokenRequest {
        token_url,
        client_id: "the-client",
        client_secret: secret,
        client_auth: ClientAuth::Basic,
        code: "SECRET-CODE-123",
        code_verifier: Some("SECRET-VERIFIER-456"),
        redirect_url: "https://app.example.test/oauth2-redirect",
    }
}

#[tokio::test]
async fn user_info_get_sends_the_bearer_token_accept_json_and_a_user_agent() {
    let idp = mock(json("200 OK", r#"{"id":"42","login":"octo"}"#)).await;
    let url = format!("{}/userinfo?fields=id", idp.base);
    let info = client()
        .get_json(&url, "access-tok-1")
        .await
        .expect("user info");
    assert_eq!(info["login"], "octo");
    let requests = idp.requests();
    assert_eq!(requests.len(), 1);
    let head = &requests[0].0;
    assert!(
        head.starts_with("get /userinfo?fields=id http/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nauthorization: bearer access-tok-1\r\n"));
    assert!(head.contains("\r\naccept: application/json\r\n"));
    assert!(
        head.contains(&format!(
            "\r\nuser-agent: {}\r\n",
            USER_AGENT.to_lowercase()
        )),
        "GitHub refuses requests without a User-Agent: {head}"
    );
}

#[tokio::test]
async fn token_exchange_posts_the_form_over_plain_http_with_a_user_agent() {
    let idp = mock(json(
        "200 OK",
        r#"{"access_token":"at-1","token_type":"Bearer","refresh_token":"rt-1","id_token":"idt-1","expires_in":3600}"#,
    ))
    .await;
    let secret = Secret::new("client-secret-1");
    let url = format!("{}/token", idp.base);
    let token = client()
        .exchange_code(&token_request(&url, &secret))
        .await
        .expect("token");
    assert_eq!(token.access_token.expose(), "at-1");
    assert_eq!(token.refresh_token.expose(), "rt-1");
    assert_eq!(token.id_token.expose(), "idt-1");
    assert_eq!(token.expires_in, Some(3600));
    let requests = idp.requests();
    assert_eq!(requests.len(), 1);
    let (head, body) = &requests[0];
    assert!(head.starts_with("post /token http/1.1\r\n"), "{head}");
    assert!(head.contains(&format!(
        "\r\nuser-agent: {}\r\n",
        USER_AGENT.to_lowercase()
    )));
    assert!(head.contains("\r\nauthorization: basic "), "{head}");
    assert!(head.contains("\r\ncontent-type: application/x-www-form-urlencoded"));
    assert!(head.contains("\r\naccept: application/json\r\n"));
    assert!(body.contains("grant_type=authorization_code"), "{body}");
    assert!(body.contains("code=SECRET-CODE-123"), "{body}");
    assert!(body.contains("code_verifier=SECRET-VERIFIER-456"), "{body}");
}

#[tokio::test]
async fn redirects_are_answers_and_never_followed() {
    // An endpoint that redirects must not bounce the access token, the
    // code or the verifier to another host (SSRF).
    let elsewhere = mock(json(
        "200 OK",
        r#"{"access_token":"x","token_type":"Bearer"}"#,
    ))
    .await;
    let target = format!("{}/steal", elsewhere.base);
    let user_info = mock(Answer::Bytes(http(
        "302 Found",
        &[("location", &target)],
        b"",
    )))
    .await;
    let token = mock(Answer::Bytes(http(
        "307 Temporary Redirect",
        &[("location", &target)],
        b"",
    )))
    .await;
    let c = client();
    let err = c
        .get_json(&format!("{}/userinfo", user_info.base), "access-tok-2")
        .await
        .expect_err("a redirect is an error answer");
    assert_eq!(err, HttpError::Status(302));
    let secret = Secret::new("client-secret-2");
    let url = format!("{}/token", token.base);
    c.exchange_code(&token_request(&url, &secret))
        .await
        .expect_err("a redirect is not a token");
    assert_eq!(user_info.requests().len(), 1);
    assert_eq!(token.requests().len(), 1);
    assert!(
        elsewhere.requests().is_empty(),
        "followed a redirect: {:?}",
        elsewhere.requests()
    );
}

#[tokio::test]
async fn answers_are_read_up_to_one_mib_and_refused_beyond() {
    let c = client();
    // Exactly the cap: a JSON string of MAX_ANSWER_BYTES bytes.
    let at_cap = format!("\"{}\"", "a".repeat(MAX_ANSWER_BYTES - 2));
    let idp = mock(json("200 OK", &at_cap)).await;
    let v = c
        .get_json(&format!("{}/userinfo", idp.base), "tok")
        .await
        .expect("an answer of exactly 1 MiB is read");
    assert_eq!(v.as_str().map(str::len), Some(MAX_ANSWER_BYTES - 2));

    let over = format!("\"{}\"", "a".repeat(MAX_ANSWER_BYTES - 1));
    let idp = mock(json("200 OK", &over)).await;
    let err = c
        .get_json(&format!("{}/userinfo", idp.base), "tok")
        .await
        .expect_err("one byte over the cap");
    assert!(
        matches!(&err, HttpError::Other(m) if m.contains("too large")),
        "{err:?}"
    );

    // Chunked (no Content-Length), and more than the cap: refused too,
    // even though the server keeps sending.
    let mut chunked =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    let piece = "b".repeat(64 * 1024);
    chunked.extend_from_slice(format!("{:x}\r\n\"{piece}\r\n", piece.len() + 1).as_bytes());
    for _ in 0..40 {
        chunked.extend_from_slice(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes());
    }
    let idp = mock(Answer::ThenStall(chunked)).await;
    let err = c
        .get_json(&format!("{}/userinfo", idp.base), "tok")
        .await
        .expect_err("a 2.5 MiB chunked answer");
    assert!(
        matches!(&err, HttpError::Other(m) if m.contains("too large")),
        "{err:?}"
    );

    // The token endpoint's answer has the same cap.
    let big_token = format!(
        r#"{{"access_token":"{}","token_type":"Bearer"}}"#,
        "c".repeat(MAX_ANSWER_BYTES)
    );
    let idp = mock(json("200 OK", &big_token)).await;
    let secret = Secret::new("s");
    let url = format!("{}/token", idp.base);
    let err = c
        .exchange_code(&token_request(&url, &secret))
        .await
        .expect_err("a token answer over 1 MiB");
    assert!(
        matches!(&err, HttpError::Other(m) if m.contains("too large")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_provider_that_stops_answering_hits_the_total_timeout() {
    let c = HttpOAuth2Client::with_timeouts(Duration::from_millis(400), Duration::from_secs(5))
        .expect("client");
    // Headers, then the body never comes.
    let idp = mock(Answer::ThenStall(
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"id\":".to_vec(),
    ))
    .await;
    let started = Instant::now();
    let err = c
        .get_json(&format!("{}/userinfo", idp.base), "tok")
        .await
        .expect_err("stalled body");
    assert!(
        matches!(&err, HttpError::Other(m) if m.contains("within 400 ms")),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    // The token endpoint: no answer at all.
    let idp = mock(Answer::ThenStall(Vec::new())).await;
    let secret = Secret::new("s");
    let url = format!("{}/token", idp.base);
    let started = Instant::now();
    let err = c
        .exchange_code(&token_request(&url, &secret))
        .await
        .expect_err("no answer");
    assert!(
        matches!(&err, HttpError::Other(m) if m.contains("within 400 ms")),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_stuck_tls_handshake_hits_the_connect_timeout() {
    let c = HttpOAuth2Client::with_timeouts(Duration::from_secs(10), Duration::from_millis(300))
        .expect("client");
    let idp = mock(Answer::Silent).await;
    let url = idp.base.replace("http://", "https://") + "/userinfo";
    let started = Instant::now();
    let err = c
        .get_json(&url, "tok")
        .await
        .expect_err("the TLS handshake never completes");
    assert!(
        matches!(&err, HttpError::Other(m) if m.contains("not connected within 300 ms")),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn errors_never_echo_codes_tokens_urls_or_bodies() {
    let c = client();
    let secret = Secret::new("CLIENT-SECRET-789");
    let leaks = |m: &str| {
        [
            "SECRET-CODE",
            "SECRET-VERIFIER",
            "CLIENT-SECRET",
            "ACCESS-TOK",
            "BODY-SECRET",
        ]
        .iter()
        .any(|s| m.contains(s))
    };

    // A refusal: only the error code.
    let idp = mock(json(
        "400 Bad Request",
        r#"{"error":"invalid_grant","error_description":"code SECRET-CODE-123 BODY-SECRET"}"#,
    ))
    .await;
    let url = format!("{}/token", idp.base);
    let err = c
        .exchange_code(&token_request(&url, &secret))
        .await
        .expect_err("refused");
    assert_eq!(
        err,
        HttpError::Other("token endpoint refused: invalid_grant".into())
    );

    // Not JSON: neither the body nor what was sent.
    let idp = mock(Answer::Bytes(http(
        "200 OK",
        &[],
        b"<html>BODY-SECRET SECRET-CODE-123</html>",
    )))
    .await;
    let url = format!("{}/token", idp.base);
    let err = c
        .exchange_code(&token_request(&url, &secret))
        .await
        .expect_err("not JSON");
    assert!(matches!(&err, HttpError::Other(m) if !leaks(m)), "{err:?}");

    let idp = mock(Answer::Bytes(http(
        "200 OK",
        &[],
        b"BODY-SECRET ACCESS-TOK",
    )))
    .await;
    let err = c
        .get_json(&format!("{}/userinfo", idp.base), "ACCESS-TOK-3")
        .await
        .expect_err("not JSON");
    assert_eq!(err, HttpError::Other("answer is not JSON".into()));

    // Nobody listening: the message names the failure, not the URL.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let url = format!("http://{addr}/userinfo?access_token=ACCESS-TOK-4");
    let err = c
        .get_json(&url, "ACCESS-TOK-4")
        .await
        .expect_err("refused connection");
    assert!(
        matches!(&err, HttpError::Other(m) if !leaks(m) && !m.contains(&addr.port().to_string()) && m.contains("connect")),
        "{err:?}"
    );
}
