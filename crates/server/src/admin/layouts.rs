//! `POST /api/layouts/apply`: a function-key layout rendered by the engine
//! ([`opendls_engine::layout`]) for every model a pattern names, refused with the reasons
//! when it does not fit one of them, and set at that model scope as `config set` sets values.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use opendls_engine::layout::RenderedLayout;
use opendls_engine::{DesiredEntry, Scope};
use opendls_store::{AdminStore, VariableStore};
use opendls_wpi::models::models_matching;

use super::body::ApiJson;
use super::{AdminState, Answer, Rejection, failure};
use crate::api::{LayoutApplied, LayoutApply, LayoutValue};

pub(super) async fn apply<S: AdminStore + VariableStore>(
    State(state): State<Arc<AdminState<S>>>,
    ApiJson(request): ApiJson<LayoutApply>,
) -> Answer {
    let (pattern, models) =
        models_matching(&request.model).map_err(|why| failure(StatusCode::BAD_REQUEST, why))?;
    let mut rendered: Option<RenderedLayout> = None;
    let mut problems = Vec::new();
    for model in &models {
        match request.layout.render_for(model) {
            Ok(layout) => rendered = Some(layout),
            Err(reasons) => {
                let device_type = model.device_type();
                problems.extend(reasons.into_iter().map(|why| format!("{device_type}: {why}")));
            }
        }
    }
    let name = request.layout.name.trim().to_owned();
    let rendered = match (problems.is_empty(), rendered) {
        (true, Some(rendered)) => rendered,
        _ => {
            let message =
                format!("layout {name:?} does not fit {pattern}, nothing set: {}", problems.join("; "));
            return Err(Rejection(StatusCode::UNPROCESSABLE_ENTITY, message, problems));
        }
    };
    let scope = Scope::Model(pattern.clone());
    let entries: Vec<DesiredEntry> = rendered
        .values
        .iter()
        .map(|(key, value)| DesiredEntry { scope: scope.clone(), key: key.clone(), value: value.clone() })
        .collect();
    let changed = super::config::change_configuration(&*state.store, entries, false, request.dry_run).await?;
    let (change, audit) = changed.split();
    if change.applied {
        tracing::info!(layout = name, model = pattern, values = rendered.values.len(), "layout applied");
    }
    let answer = LayoutApplied {
        layout: name,
        model: pattern,
        models: models.iter().map(|m| m.device_type()).collect(),
        values: rendered
            .values
            .iter()
            .map(|(key, value)| LayoutValue { item: key.to_string(), value: value.clone() })
            .collect(),
        warnings: rendered.warnings,
        change,
    };
    Ok(audit.attach(Json(answer).into_response()))
}
