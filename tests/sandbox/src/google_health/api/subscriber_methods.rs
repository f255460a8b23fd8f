//! The `projects.subscribers` and `projects.subscribers.subscriptions` methods: creating,
//! listing, patching and deleting subscribers (with Google's endpoint verification) and
//! their manual subscriptions.
//!
//! Invariants: only the app's own project may be managed; a create, or a patch of the
//! endpoint or its secret, takes effect only once the endpoint passed verification, which
//! runs without the state lock; a `subscriberConfigs` patch replaces the list.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::paging::{fingerprint, resource_page};
use super::{ok, Outcome, QueryParams};
use crate::google_health::data_types::is_known_data_type;
use crate::google_health::discovery::{snake_case, MatchedMethod};
use crate::google_health::error::ApiError;
use crate::google_health::oauth::Principal;
use crate::google_health::subscribers::{
    self, check_endpoint_uri, is_valid_resource_id, operation_done, operation_failed, Subscriber,
    SubscriberConfig, Subscription,
};
use crate::google_health::{GoogleHealthSandbox, State};

pub(super) struct PendingChange {
    project: String,
    id: String,
    endpoint_uri: String,
    secret: String,
    configs: Option<Vec<SubscriberConfig>>,
    create: bool,
    method_id: &'static str,
}

/// The id a create request asks for (`field` names it in errors), or a new UUID if none.
fn requested_id(requested: Option<&str>, field: &str) -> Result<String, ApiError> {
    match requested.filter(|s| !s.is_empty()) {
        Some(id) if !is_valid_resource_id(id) => Err(ApiError::bad_request(
            format!("{field} must be 4-36 characters matching [a-z]([a-z0-9-]{{2,34}}[a-z0-9])."),
            Some(field),
        )),
        Some(id) => Ok(id.to_owned()),
        None => Ok(crate::random::uuid_v4()),
    }
}

/// `endpointAuthorization.secret` of a subscriber create or patch, which must not be empty.
fn endpoint_secret(body: &Value) -> Result<String, ApiError> {
    let secret = body["endpointAuthorization"]["secret"]
        .as_str()
        .unwrap_or_default();
    if secret.is_empty() {
        return Err(ApiError::bad_request(
            "endpoint_authorization.secret is required.",
            Some("endpoint_authorization.secret"),
        ));
    }
    Ok(secret.to_owned())
}

impl GoogleHealthSandbox {
    /// Subscriber and subscription methods: service accounts of the app's project only.
    pub(super) fn project_method(
        &self,
        st: &mut State,
        matched: &MatchedMethod<'_>,
        principal: &Principal,
        query: &QueryParams<'_>,
        body: &Value,
        now: OffsetDateTime,
    ) -> Result<Outcome, ApiError> {
        let project = matched
            .path_params
            .get("projectsId")
            .cloned()
            .unwrap_or_default();
        let method_id = matched.method.id.as_str();
        let permission = method_id
            .strip_prefix("health.projects.")
            .unwrap_or(method_id)
            .to_owned();
        let own_project =
            project == self.config.project_id || project == self.config.project_number;
        let allowed = match principal {
            Principal::ServiceAccount { project_id, .. } => {
                own_project && *project_id == self.config.project_id
            }
            Principal::User(_) => own_project,
        };
        if !allowed {
            return Err(ApiError::permission_denied(format!(
                "Permission 'health.{permission}' denied on resource 'projects/{project}' (or it may not exist)."
            )));
        }
        let subscriber_id = matched.path_params.get("subscribersId").cloned();
        let not_found = |id: &str| {
            ApiError::not_found(format!(
                "Subscriber projects/{project}/subscribers/{id} not found."
            ))
        };
        match method_id {
            "health.projects.subscribers.create" => {
                let id = requested_id(query.get("subscriberId"), "subscriber_id")?;
                if st.subscribers.find(&id).is_some() {
                    return Err(ApiError::already_exists(format!(
                        "Subscriber projects/{project}/subscribers/{id} already exists."
                    )));
                }
                let endpoint_uri = body["endpointUri"].as_str().unwrap_or_default().to_owned();
                if endpoint_uri.is_empty() {
                    return Err(ApiError::bad_request(
                        "endpoint_uri is required.",
                        Some("endpoint_uri"),
                    ));
                }
                check_endpoint_uri(&endpoint_uri, self.config.require_https_endpoints)?;
                let secret = endpoint_secret(body)?;
                let configs = parse_configs(&body["subscriberConfigs"])?;
                Ok(Outcome::Verify(PendingChange {
                    project,
                    id,
                    endpoint_uri,
                    secret,
                    configs: Some(configs),
                    create: true,
                    method_id: "health.projects.subscribers.create",
                }))
            }
            "health.projects.subscribers.list" => {
                let print = fingerprint(&[&project, "subscribers"]);
                let all = st.subscribers.list_json();
                let mut response = resource_page("subscribers", &all, query, &print)?;
                if response.contains_key("subscribers") {
                    response.insert("totalSize".to_owned(), json!(all.len()));
                }
                Ok(ok(Value::Object(response)))
            }
            "health.projects.subscribers.patch" => {
                let id = subscriber_id.unwrap_or_default();
                let existing = st
                    .subscribers
                    .find(&id)
                    .cloned()
                    .ok_or_else(|| not_found(&id))?;
                let mask: Vec<String> =
                    match query.get("updateMask").filter(|m| !m.trim().is_empty()) {
                        Some(mask) => mask.split(',').map(|p| snake_case(p.trim())).collect(),
                        None => ["endpointUri", "subscriberConfigs", "endpointAuthorization"]
                            .iter()
                            .filter(|f| !body[**f].is_null())
                            .map(|f| snake_case(f))
                            .collect(),
                    };
                if let Some(bad) = mask.iter().find(|p| {
                    !matches!(
                        p.as_str(),
                        "endpoint_uri" | "subscriber_configs" | "endpoint_authorization"
                    )
                }) {
                    return Err(ApiError::bad_request(
                        format!("Invalid update mask path: {bad}"),
                        Some("update_mask"),
                    ));
                }
                let has = |field: &str| mask.iter().any(|m| m == field);
                let mut endpoint_uri = existing.endpoint_uri.clone();
                let mut secret = existing.secret.clone();
                if has("endpoint_uri") {
                    endpoint_uri = body["endpointUri"].as_str().unwrap_or_default().to_owned();
                    check_endpoint_uri(&endpoint_uri, self.config.require_https_endpoints)?;
                }
                if has("endpoint_authorization") {
                    secret = endpoint_secret(body)?;
                }
                let configs = if has("subscriber_configs") {
                    Some(parse_configs(&body["subscriberConfigs"])?)
                } else {
                    None
                };
                let change = PendingChange {
                    project,
                    id,
                    endpoint_uri,
                    secret,
                    configs,
                    create: false,
                    method_id: "health.projects.subscribers.patch",
                };
                if has("endpoint_uri") || has("endpoint_authorization") {
                    Ok(Outcome::Verify(change))
                } else {
                    Ok(self.apply_change(st, change, now))
                }
            }
            "health.projects.subscribers.delete" => {
                let id = subscriber_id.unwrap_or_default();
                st.subscribers.find(&id).ok_or_else(|| not_found(&id))?;
                let force = matches!(query.get("force"), Some("true" | "1"));
                let has_children = st
                    .subscribers
                    .subscriptions
                    .iter()
                    .any(|s| s.subscriber_id == id);
                if has_children && !force {
                    return Err(ApiError::failed_precondition(format!(
                        "Subscriber projects/{project}/subscribers/{id} has subscriptions; set force=true to delete them too."
                    )));
                }
                st.subscribers
                    .subscriptions
                    .retain(|s| s.subscriber_id != id);
                st.subscribers.subscribers.retain(|s| s.id != id);
                tracing::debug!(subscriber = %id, "google health sandbox: subscriber deleted");
                Ok(ok(operation_done(
                    &project,
                    "DeleteSubscriberMetadata",
                    subscribers::EMPTY_TYPE,
                    json!({}),
                )))
            }
            _ => self.subscription_method(
                st,
                matched,
                &project,
                subscriber_id.unwrap_or_default(),
                query,
                body,
            ),
        }
    }

    fn subscription_method(
        &self,
        st: &mut State,
        matched: &MatchedMethod<'_>,
        project: &str,
        subscriber_id: String,
        query: &QueryParams<'_>,
        body: &Value,
    ) -> Result<Outcome, ApiError> {
        let subscriber = st
            .subscribers
            .find(&subscriber_id)
            .cloned()
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "Subscriber projects/{project}/subscribers/{subscriber_id} not found."
                ))
            })?;
        let subscription_id = matched.path_params.get("subscriptionsId").cloned();
        let parse_types = |user: &str, value: &Value| -> Result<Vec<String>, ApiError> {
            let mut types = Vec::new();
            for item in value.as_array().into_iter().flatten() {
                let text = item.as_str().unwrap_or_default();
                let data_type = text
                    .strip_prefix(&format!("users/{user}/dataTypes/"))
                    .filter(|t| subscriber.policy_for(t).is_some())
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            format!("Invalid data type {text}: it must be users/{user}/dataTypes/<one of the subscriber's data types>."),
                            Some("data_types"),
                        )
                    })?;
                types.push(data_type.to_owned());
            }
            Ok(types)
        };
        let find = |st: &State, id: &str| {
            st.subscribers
                .subscriptions
                .iter()
                .position(|s| s.subscriber_id == subscriber_id && s.id == id)
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "Subscription projects/{project}/subscribers/{subscriber_id}/subscriptions/{id} not found."
                    ))
                })
        };
        match matched.method.id.as_str() {
            "health.projects.subscribers.subscriptions.create" => {
                let id = requested_id(query.get("subscriptionId"), "subscription_id")?;
                let user = body["user"]
                    .as_str()
                    .and_then(|u| u.strip_prefix("users/"))
                    .filter(|u| st.users.contains_key(*u))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "user must name a known user as users/{healthUserId}.",
                            Some("user"),
                        )
                    })?
                    .to_owned();
                let data_types = parse_types(&user, &body["dataTypes"])?;
                if find(st, &id).is_ok() {
                    return Err(ApiError::already_exists(format!(
                        "Subscription projects/{project}/subscribers/{subscriber_id}/subscriptions/{id} already exists."
                    )));
                }
                let subscription = Subscription {
                    subscriber_id: subscriber_id.clone(),
                    project: subscriber.project.clone(),
                    id,
                    user,
                    data_types,
                };
                let body = subscription.json();
                st.subscribers.subscriptions.push(subscription);
                Ok(ok(body))
            }
            "health.projects.subscribers.subscriptions.list" => {
                let user_filter = match query.get("filter").map(str::trim).filter(|f| !f.is_empty())
                {
                    None => None,
                    Some(filter) => {
                        let value = filter
                            .strip_prefix("user")
                            .map(str::trim_start)
                            .and_then(|f| f.strip_prefix('='))
                            .map(|f| f.trim().trim_matches('"'))
                            .and_then(|f| f.strip_prefix("users/"))
                            .ok_or_else(|| {
                                ApiError::bad_request(
                                    format!("Invalid filter: {filter}"),
                                    Some("filter"),
                                )
                            })?;
                        Some(value.to_owned())
                    }
                };
                let all: Vec<Value> = st
                    .subscribers
                    .subscriptions
                    .iter()
                    .filter(|s| s.subscriber_id == subscriber_id)
                    .filter(|s| user_filter.as_ref().is_none_or(|u| *u == s.user))
                    .map(Subscription::json)
                    .collect();
                let print = fingerprint(&[
                    project,
                    &subscriber_id,
                    query.get("filter").unwrap_or_default(),
                ]);
                let response = resource_page("subscriptions", &all, query, &print)?;
                Ok(ok(Value::Object(response)))
            }
            "health.projects.subscribers.subscriptions.patch" => {
                let id = subscription_id.unwrap_or_default();
                let index = find(st, &id)?;
                let user = st.subscribers.subscriptions[index].user.clone();
                let mask = query.get("updateMask").unwrap_or("dataTypes");
                for path in mask.split(',').map(|p| snake_case(p.trim())) {
                    if path != "data_types" {
                        return Err(ApiError::bad_request(
                            format!("Invalid update mask path: {path}"),
                            Some("update_mask"),
                        ));
                    }
                }
                let data_types = parse_types(&user, &body["dataTypes"])?;
                st.subscribers.subscriptions[index].data_types = data_types;
                Ok(ok(st.subscribers.subscriptions[index].json()))
            }
            "health.projects.subscribers.subscriptions.delete" => {
                let id = subscription_id.unwrap_or_default();
                let index = find(st, &id)?;
                st.subscribers.subscriptions.remove(index);
                Ok(ok(json!({})))
            }
            other => Err(ApiError::unimplemented(other)),
        }
    }

    /// Applies a (verified, or verification-free) subscriber change.
    fn apply_change(&self, st: &mut State, change: PendingChange, now: OffsetDateTime) -> Outcome {
        if change.create {
            if st.subscribers.find(&change.id).is_some() {
                return ApiError::already_exists(format!(
                    "Subscriber projects/{}/subscribers/{} already exists.",
                    change.project, change.id
                ))
                .into();
            }
            let subscriber = Subscriber {
                project: change.project.clone(),
                id: change.id,
                endpoint_uri: change.endpoint_uri,
                secret: change.secret,
                configs: change.configs.unwrap_or_default(),
                create_time: now,
                update_time: now,
            };
            let body = subscriber.json();
            tracing::debug!(subscriber = %subscriber.id, "google health sandbox: subscriber created");
            st.subscribers.subscribers.push(subscriber);
            st.stats.subscribers_created += 1;
            return ok(operation_done(
                &change.project,
                "CreateSubscriberMetadata",
                &subscribers::subscriber_type(),
                body,
            ));
        }
        let Some(subscriber) = st.subscribers.find_mut(&change.id) else {
            return ApiError::not_found(format!(
                "Subscriber projects/{}/subscribers/{} not found.",
                change.project, change.id
            ))
            .into();
        };
        subscriber.endpoint_uri = change.endpoint_uri;
        subscriber.secret = change.secret;
        if let Some(configs) = change.configs {
            // A full replacement, not a merge (webhooks guide).
            subscriber.configs = configs;
        }
        subscriber.update_time = now;
        let body = subscriber.json();
        ok(operation_done(
            &change.project,
            "UpdateSubscriberMetadata",
            &subscribers::subscriber_type(),
            body,
        ))
    }

    pub(super) async fn finish_subscriber_change(&self, change: PendingChange) -> Response {
        let outcome = self
            .verify_endpoint(&change.endpoint_uri, &change.secret)
            .await;
        let mut st = self.lock();
        let now = st.now();
        if !outcome.verified {
            st.stats.verification_failures += 1;
            tracing::debug!(
                method = change.method_id,
                "google health sandbox: endpoint verification failed"
            );
            let error = ApiError::failed_precondition(
                outcome
                    .error
                    .unwrap_or_else(|| "Endpoint verification failed.".to_owned()),
            );
            if self.config.verification_failure_as_http_error {
                return error.into_response();
            }
            let metadata = if change.create {
                "CreateSubscriberMetadata"
            } else {
                "UpdateSubscriberMetadata"
            };
            return Json(operation_failed(&change.project, metadata, &error)).into_response();
        }
        match self.apply_change(&mut st, change, now) {
            Outcome::Done(response) => response,
            Outcome::Verify(_) => unreachable!("apply_change never asks for verification"),
        }
    }
}

fn parse_configs(value: &Value) -> Result<Vec<SubscriberConfig>, ApiError> {
    let mut configs = Vec::new();
    for (i, config) in value.as_array().into_iter().flatten().enumerate() {
        let field = format!("subscriber_configs[{i}]");
        let data_types: Vec<String> = config["dataTypes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        if data_types.is_empty() {
            return Err(ApiError::bad_request(
                format!("{field}.data_types is required."),
                Some(&field),
            ));
        }
        if let Some(bad) = data_types.iter().find(|t| !is_known_data_type(t)) {
            return Err(ApiError::bad_request(
                format!("{field}.data_types: unsupported data type \"{bad}\" (use kebab-case ids such as steps)."),
                Some(&field),
            ));
        }
        let policy = config["subscriptionCreatePolicy"]
            .as_str()
            .unwrap_or_default();
        if !matches!(policy, "AUTOMATIC" | "MANUAL") {
            return Err(ApiError::bad_request(
                format!("{field}.subscription_create_policy must be AUTOMATIC or MANUAL."),
                Some(&field),
            ));
        }
        configs.push(SubscriberConfig {
            data_types,
            policy: policy.to_owned(),
        });
    }
    Ok(configs)
}
