//! The HTTP front of the tenant (SAP Gateway): injected faults, Basic auth, sessions and
//! CSRF tokens, then dispatch to the service document, `$metadata`, `$batch` or a single
//! operation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use tracing::debug;

use super::error::{ODataError, CODE_INJECTED, CODE_NOT_ALLOWED};
use super::multipart::{
    parse_batch, render_batch, BatchPart, BatchResponsePart, Headers, InnerRequest,
};
use super::ops::{error_inner, execute, Context, Effect, Operation, Outcome};
use super::uri::{parse_resource, parse_service, Resource, ServiceRoot, ODATA_BASE};
use super::{InjectedFailure, SapSandbox, SapStats, Session, State as TenantState};

/// Session cookie of the sandbox's "system" FBS, client 100.
const SESSION_COOKIE: &str = "SAP_SESSIONID_FBS_100";
const REALM: &str = "Basic realm=\"SAP NetWeaver Application Server [FBS/100]\"";
const MAX_BODY: usize = 32 * 1024 * 1024;

pub(crate) async fn handle(State(sap): State<Arc<SapSandbox>>, request: Request) -> Response {
    let latency = sap.lock().faults.latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "Request body too large").into_response();
    };
    let request = GatewayRequest {
        method: effective_method(&parts.method, &parts.headers),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body: &body,
    };
    let response = sap.process(&request);
    debug!(method = %request.method, path = request.path, status = %response.status(), "sap sandbox");
    response
}

struct GatewayRequest<'a> {
    method: Method,
    path: &'a str,
    query: &'a str,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

/// SAP Gateway honours `X-HTTP-Method` on POST (MERGE tunnelling).
fn effective_method(method: &Method, headers: &HeaderMap) -> Method {
    if method == Method::POST {
        if let Some(tunnelled) = headers
            .get("x-http-method")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Method::from_bytes(v.trim().to_ascii_uppercase().as_bytes()).ok())
        {
            return tunnelled;
        }
    }
    method.clone()
}

fn is_modifying(method: &Method) -> bool {
    !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS")
}

impl SapSandbox {
    fn process(&self, request: &GatewayRequest) -> Response {
        let mut state = self.lock();
        state.stats.requests += 1;

        let target = if request.query.is_empty() {
            request.path.to_string()
        } else {
            format!("{}?{}", request.path, request.query)
        };
        match state.faults.take_failure(&target) {
            None => self.serve(&mut state, request),
            Some(InjectedFailure::Status(status)) => {
                state.stats.injected_failures += 1;
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                let error = ODataError::new(
                    status,
                    CODE_INJECTED,
                    format!(
                        "{} (injected by the sandbox)",
                        status.canonical_reason().unwrap_or("Error")
                    ),
                );
                error_response(&error, "", "")
            }
            Some(InjectedFailure::Raw {
                answer,
                after_processing,
            }) => {
                state.stats.injected_failures += 1;
                if after_processing {
                    // Applied as usual; only the answer is lost on its way back.
                    let _ = self.serve(&mut state, request);
                }
                answer.response()
            }
        }
    }

    /// Everything after fault injection: auth, session, CSRF, dispatch.
    fn serve(&self, state: &mut TenantState, request: &GatewayRequest) -> Response {
        if !self.authorized(request.headers) {
            state.stats.auth_failures += 1;
            return unauthorized();
        }

        let Some(rest) = request.path.strip_prefix(ODATA_BASE) else {
            return (StatusCode::NOT_FOUND, "Not found").into_response();
        };
        let (service_segment, resource_path) = rest.split_once('/').unwrap_or((rest, ""));
        let root = match parse_service(service_segment) {
            Ok(root) => root,
            Err(e) => return error_response(&e, service_segment, ""),
        };

        let session = self.touch_session(state, request.headers);
        if is_modifying(&request.method) && !csrf_valid(state, session.as_deref(), request.headers)
        {
            state.stats.csrf_rejections += 1;
            return csrf_required();
        }

        let mut response = match parse_resource(resource_path) {
            Err(e) => error_response(&e, root.kind.name(), &root.version),
            Ok(resource) => self.dispatch(state, request, &root, resource, resource_path),
        };

        let fetch = request
            .headers
            .get("x-csrf-token")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"fetch"));
        if fetch && !is_modifying(&request.method) {
            self.issue_token(state, session, response.headers_mut());
        }
        response
    }

    fn dispatch(
        &self,
        state: &mut TenantState,
        request: &GatewayRequest,
        root: &ServiceRoot,
        resource: Resource,
        resource_path: &str,
    ) -> Response {
        let schema = &self.schemas[&root.kind];
        let reading = matches!(request.method.as_str(), "GET" | "HEAD");
        match resource {
            Resource::ServiceDocument if reading => {
                if wants_json(request) {
                    odata_response(
                        StatusCode::OK,
                        "application/json;charset=utf-8",
                        schema.service_document_json().to_string(),
                    )
                } else {
                    let base = base_url(request, root);
                    odata_response(
                        StatusCode::OK,
                        "application/atomsvc+xml;charset=utf-8",
                        schema.service_document_xml(&base),
                    )
                }
            }
            Resource::Metadata if reading => odata_response(
                StatusCode::OK,
                "application/xml;charset=utf-8",
                schema.metadata.clone(),
            ),
            Resource::Batch if request.method == Method::POST => self.batch(state, request, root),
            Resource::ServiceDocument | Resource::Metadata | Resource::Batch => error_response(
                &ODataError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    CODE_NOT_ALLOWED,
                    format!("Method {} is not allowed here", request.method),
                ),
                root.kind.name(),
                &root.version,
            ),
            Resource::EntitySet { .. } | Resource::Navigation { .. } => {
                self.single(state, request, root, resource_path)
            }
        }
    }

    /// A request outside `$batch`: a read, or a write applied atomically like a changeset.
    fn single(
        &self,
        state: &mut TenantState,
        request: &GatewayRequest,
        root: &ServiceRoot,
        path: &str,
    ) -> Response {
        let Ok(body) = std::str::from_utf8(request.body) else {
            return error_response(
                &ODataError::syntax("The request body is not UTF-8"),
                root.kind.name(),
                &root.version,
            );
        };
        let headers = header_list(request.headers);
        let url = if request.query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", request.query)
        };
        let request_line = format!("{} {url} HTTP/1.1", request.method);
        let operation = Operation {
            // HEAD is answered like GET (hyper drops the body).
            method: if request.method == Method::HEAD {
                "GET"
            } else {
                request.method.as_str()
            },
            url: &url,
            request_line: &request_line,
            headers: &headers,
            body,
        };
        let ctx = self.context(state, request, root, &headers);
        let result = if is_modifying(&request.method) {
            let mut staged = state.store.clone();
            let result = execute(&ctx, &mut staged, &operation);
            if result.is_ok() {
                state.store = staged;
            }
            result
        } else {
            execute(&ctx, &mut state.store, &operation)
        };
        if let Ok(outcome) = &result {
            count_effect(&mut state.stats, outcome.effect);
        }
        match result {
            Ok(outcome) => outcome_response(outcome),
            Err(e) => error_response(&e, root.kind.name(), &root.version),
        }
    }

    fn batch(
        &self,
        state: &mut TenantState,
        request: &GatewayRequest,
        root: &ServiceRoot,
    ) -> Response {
        state.stats.batches += 1;
        *state
            .stats
            .batches_per_service
            .entry(root.kind.name().to_string())
            .or_default() += 1;
        let content_type = request
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let parsed = std::str::from_utf8(request.body)
            .map_err(|_| "The $batch body is not UTF-8".to_string())
            .and_then(|body| parse_batch(content_type, body));
        let parts = match parsed {
            Ok(parts) => parts,
            Err(message) => {
                return error_response(
                    &ODataError::syntax(message),
                    root.kind.name(),
                    &root.version,
                )
            }
        };

        let headers = header_list(request.headers);
        let ctx = self.context(state, request, root, &headers);
        // Parts run in order, so a retrieval sees the changesets before it.
        let mut responses = Vec::with_capacity(parts.len());
        for part in &parts {
            let response = match part {
                BatchPart::Retrieval(get) => {
                    match execute(&ctx, &mut state.store, &operation(get)) {
                        Ok(outcome) => {
                            state.stats.parts_ok += 1;
                            BatchResponsePart::Retrieval(outcome.into_inner(get.content_id.clone()))
                        }
                        Err(e) => {
                            state.stats.parts_failed += 1;
                            BatchResponsePart::Retrieval(error_inner(
                                &ctx,
                                &e,
                                get.content_id.clone(),
                            ))
                        }
                    }
                }
                BatchPart::Changeset(operations) => run_changeset(state, &ctx, operations),
            };
            responses.push(response);
        }

        let boundary = format!("batch_{}", crate::random::hex(16));
        Response::builder()
            .status(StatusCode::ACCEPTED)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/mixed; boundary={boundary}"),
            )
            .header("dataserviceversion", "2.0")
            .body(Body::from(render_batch(&boundary, &responses)))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }

    fn context<'a>(
        &'a self,
        state: &TenantState,
        request: &GatewayRequest,
        root: &'a ServiceRoot,
        headers: &'a [(String, String)],
    ) -> Context<'a> {
        let faults = &state.faults;
        Context {
            root,
            schema: &self.schemas[&root.kind],
            base_url: base_url(request, root),
            outer_headers: headers,
            part_fault: faults.fail_parts_matching.clone().map(|needle| {
                (
                    needle,
                    StatusCode::from_u16(faults.part_status).unwrap_or(StatusCode::BAD_REQUEST),
                )
            }),
        }
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(credentials) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Basic ")
                    .or_else(|| v.strip_prefix("basic "))
            })
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials.trim())
        else {
            return false;
        };
        let expected = format!("{}:{}", self.config.username, self.config.password);
        decoded == expected.as_bytes()
    }

    /// Finds the request's live session and refreshes its idle time; an idle session is
    /// dropped, as the tenant ends it.
    fn touch_session(&self, state: &mut TenantState, headers: &HeaderMap) -> Option<String> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let idle = self.session_idle();
        let session = state.sessions.get_mut(&id)?;
        if session.last_used.elapsed() > idle {
            state.sessions.remove(&id);
            return None;
        }
        session.last_used = Instant::now();
        Some(id)
    }

    /// Answers a token fetch with the session's token, opening a session if there is none.
    fn issue_token(
        &self,
        state: &mut TenantState,
        session: Option<String>,
        headers: &mut HeaderMap,
    ) {
        state.stats.csrf_fetches += 1;
        let (id, new) = match session {
            Some(id) => (id, false),
            None => {
                state.stats.sessions_created += 1;
                (random_token(32), true)
            }
        };
        let session = state.sessions.entry(id.clone()).or_insert_with(|| Session {
            csrf_token: random_token(16),
            last_used: Instant::now(),
        });
        if let Ok(token) = HeaderValue::from_str(&session.csrf_token) {
            headers.insert("x-csrf-token", token);
        }
        if new {
            for cookie in [
                format!("{SESSION_COOKIE}={id}; path=/; HttpOnly"),
                "sap-usercontext=sap-client=100; path=/".to_string(),
            ] {
                if let Ok(value) = HeaderValue::from_str(&cookie) {
                    headers.append(header::SET_COOKIE, value);
                }
            }
        }
    }
}

fn run_changeset(
    state: &mut TenantState,
    ctx: &Context,
    operations: &[InnerRequest],
) -> BatchResponsePart {
    // Operations run against a copy; the copy replaces the store only if all succeed.
    let mut staged = state.store.clone();
    let mut responses = Vec::new();
    let mut effects = Vec::new();
    for request in operations {
        let operation = operation(request);
        match execute(ctx, &mut staged, &operation) {
            Ok(outcome) => {
                effects.push(outcome.effect);
                responses.push(outcome.into_inner(request.content_id.clone()));
            }
            Err(e) => {
                state.stats.changesets_failed += 1;
                state.stats.parts_failed += 1;
                state.stats.parts_rolled_back += operations.len() as u64 - 1;
                return BatchResponsePart::FailedChangeset(error_inner(
                    ctx,
                    &e,
                    request.content_id.clone(),
                ));
            }
        }
    }
    state.store = staged;
    state.stats.changesets_ok += 1;
    state.stats.parts_ok += operations.len() as u64;
    for effect in effects {
        count_effect(&mut state.stats, effect);
    }
    BatchResponsePart::Changeset(responses)
}

/// Counts what an applied operation did.
fn count_effect(stats: &mut SapStats, effect: Effect) {
    match effect {
        Effect::None => {}
        Effect::Import => stats.imports += 1,
        Effect::InteractionCreated => stats.interaction_creates += 1,
        Effect::InteractionUpdated => stats.interaction_updates += 1,
    }
}

fn operation(request: &InnerRequest) -> Operation<'_> {
    Operation {
        method: &request.method,
        url: &request.url,
        request_line: &request.request_line,
        headers: &request.headers,
        body: &request.body,
    }
}

fn csrf_valid(state: &TenantState, session: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(session) = session.and_then(|id| state.sessions.get(id)) else {
        return false;
    };
    headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|token| token == session.csrf_token)
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
}

fn random_token(bytes: usize) -> String {
    let random: Vec<u8> = (0..bytes).map(|_| rand::random()).collect();
    base64::engine::general_purpose::STANDARD.encode(random)
}

fn header_list(headers: &HeaderMap) -> Headers {
    headers
        .iter()
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect()
}

fn wants_json(request: &GatewayRequest) -> bool {
    let accept = request
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    accept.contains("json") || request.query.split('&').any(|p| p == "$format=json")
}

fn base_url(request: &GatewayRequest, root: &ServiceRoot) -> String {
    let host = request
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}{ODATA_BASE}{}/", root.segment)
}

fn odata_response(status: StatusCode, content_type: &str, body: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header("dataserviceversion", "2.0")
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn outcome_response(outcome: Outcome) -> Response {
    let inner = outcome.into_inner(None);
    let mut builder = Response::builder().status(inner.status);
    for (name, value) in &inner.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Body::from(inner.body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn error_response(error: &ODataError, service: &str, version: &str) -> Response {
    odata_response(
        error.status,
        "application/json;charset=utf-8",
        error.body(service, version),
    )
}

fn unauthorized() -> Response {
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(header::WWW_AUTHENTICATE, REALM)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::from(
            "<html><head><title>Logon Error Message</title></head><body><h1>401 Unauthorized</h1>\
             <p>Logon failed: the user name or password is incorrect.</p></body></html>",
        ))
        .unwrap_or_else(|_| StatusCode::UNAUTHORIZED.into_response())
}

fn csrf_required() -> Response {
    Response::builder()
        .status(StatusCode::FORBIDDEN)
        .header("x-csrf-token", "Required")
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from("CSRF token validation failed"))
        .unwrap_or_else(|_| StatusCode::FORBIDDEN.into_response())
}
