//! The Lambda Runtime API as a function's bootstrap sees it: `GET .../invocation/next` hands
//! out one event with Lambda's headers (long-polling until the harness has one), `POST
//! .../invocation/{id}/response` and `.../error` take the result, `POST .../init/error` takes
//! an init failure. Each is timestamped when its request arrives.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::mpsc;

/// One event to hand out.
pub struct Invocation {
    pub id: String,
    pub body: String,
    /// The function's configured timeout: the deadline is now + this when it is handed out.
    pub timeout: Duration,
    pub function_arn: String,
    /// A number unique in the run: the request and trace ids derive from it.
    pub seq: u64,
}

pub enum Posted {
    Response(String),
    Error(String),
    InitError(String),
}

/// What came back, and when.
pub struct Outcome {
    pub posted: Posted,
    /// When the event was handed out (`None` for an init error).
    pub handed_at: Option<Instant>,
    pub at: Instant,
    pub wall: SystemTime,
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    handed: Mutex<HashMap<String, Instant>>,
    results: mpsc::UnboundedSender<Outcome>,
    /// The first `/next` of the process: the end of its init.
    first_next: OnceLock<(Instant, SystemTime)>,
    first_next_seen: tokio::sync::Notify,
}

/// A Runtime API server for one execution environment.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<Invocation>,
    results: mpsc::UnboundedReceiver<Outcome>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<RuntimeApi> {
        let (events, queue) = mpsc::unbounded_channel();
        let (results_tx, results) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(queue),
            handed: Mutex::new(HashMap::new()),
            results: results_tx,
            first_next: OnceLock::new(),
            first_next_seen: tokio::sync::Notify::new(),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let (addr, tx) = crate::stubs::serve(app).await?;
        Ok(RuntimeApi {
            addr,
            shared,
            events,
            results,
            shutdown: Some(tx),
        })
    }

    /// Waits for the process's first `/next`, or an init error, up to `limit`.
    pub async fn first_next(&mut self, limit: Duration) -> Result<(Instant, SystemTime), String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(at) = self.shared.first_next.get() {
                return Ok(*at);
            }
            tokio::select! {
                _ = self.shared.first_next_seen.notified() => {}
                outcome = self.results.recv() => {
                    if let Some(Outcome { posted: Posted::InitError(body), .. }) = outcome {
                        return Err(format!("init error: {body}"));
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(format!("no /next within {limit:?}"));
                }
            }
        }
    }

    /// Hands out one event and waits for its result, up to `limit`.
    pub async fn invoke(
        &mut self,
        invocation: Invocation,
        limit: Duration,
    ) -> Result<Outcome, String> {
        self.events
            .send(invocation)
            .map_err(|_| "runtime API is gone".to_owned())?;
        match tokio::time::timeout(limit, self.results.recv()).await {
            Ok(Some(outcome)) => Ok(outcome),
            Ok(None) => Err("runtime API is gone".into()),
            Err(_) => Err(format!("no response within {limit:?}")),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    if shared
        .first_next
        .set((Instant::now(), SystemTime::now()))
        .is_ok()
    {
        shared.first_next_seen.notify_one();
    }
    let Some(invocation) = shared.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = SystemTime::now() + invocation.timeout;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        headers.insert(
            name,
            HeaderValue::from_str(&value).expect("header values are ASCII"),
        );
    };
    put("lambda-runtime-aws-request-id", invocation.id.clone());
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        invocation.function_arn,
    );
    put(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
            deadline_ms / 1000,
            invocation.seq,
            invocation.seq
        ),
    );
    put("content-type", "application/json".into());
    shared
        .handed
        .lock()
        .unwrap()
        .insert(invocation.id, Instant::now());
    (headers, invocation.body).into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
}

fn record(shared: &Shared, id: Option<&str>, posted: Posted) {
    let at = Instant::now();
    let handed_at = id.and_then(|id| shared.handed.lock().unwrap().remove(id));
    let _ = shared.results.send(Outcome {
        posted,
        handed_at,
        at,
        wall: SystemTime::now(),
    });
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: String,
) -> Response {
    record(&shared, Some(&id), Posted::Response(body));
    accepted()
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: String,
) -> Response {
    record(&shared, Some(&id), Posted::Error(body));
    accepted()
}

async fn init_error(State(shared): State<Arc<Shared>>, body: String) -> Response {
    record(&shared, None, Posted::InitError(body));
    accepted()
}
