//! Onboarding through the hub's admin API (central-ledger-compatible paths).
//!
//! Calls are made with an operator's session or API token. Under four eyes a sensitive route
//! answers `202` with a pending request instead of acting; an [`AdminClient`] with an approver
//! ([`AdminClient::with_approver`]) has that operator approve it and carries on with what the
//! route answered on execution. Without an approver a pending answer is an error
//! ([`AdminError::Pending`]), never mistaken for success.

use std::fmt;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::operator::{OperatorSession, body_text, parse_body, pending_request_id};

/// An admin-API client.
#[derive(Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
    approver: Option<OperatorSession>,
    approved: Arc<Mutex<Vec<ApprovedRequest>>>,
}

/// A request the client's approver approved and saw executed (for reports such as the demo's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedRequest {
    /// The request's id.
    pub request_id: String,
    /// The operation (`participants.create`, `endpoints.set`, `funds`, ...).
    pub operation: String,
    /// The permission it needed.
    pub permission: String,
    /// What it acted on (the participant or operator named in the request), when known.
    pub subject: Option<String>,
    /// Who asked for it.
    pub maker: String,
    /// Who approved it (the client's approver).
    pub approver: String,
    /// The status the operation answered on execution.
    pub status: u16,
}

/// How many approved requests an [`AdminClient`] remembers (the oldest are dropped).
const APPROVED_LOG: usize = 1000;

impl fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminClient")
            .field("base", &self.base)
            .field("token", &"<redacted>")
            .field("approver", &self.approver)
            .finish()
    }
}

/// A failed admin call.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Transport failure.
    #[error("admin API unreachable: {0}")]
    Http(#[from] reqwest::Error),
    /// The hub refused the call.
    #[error("admin API answered {status}: {body}")]
    Refused {
        /// Status.
        status: u16,
        /// Body.
        body: String,
    },
    /// The call is a maker/checker request waiting for approval, and the client has no
    /// approver: nothing happened yet.
    #[error("admin API request {request_id} is pending approval (no approver configured)")]
    Pending {
        /// The request's id (`/requests/{id}`).
        request_id: String,
    },
    /// The approver approved, but the request did not execute (more approvals needed).
    #[error("admin API request {request_id} is still {state} after approval")]
    NotExecuted {
        /// The request's id.
        request_id: String,
        /// Its state after the approval.
        state: String,
    },
    /// A local failure or an answer the client cannot use (a file, a TOTP code, a field the
    /// hub's answer lacks).
    #[error("{0}")]
    Local(String),
}

impl AdminError {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            AdminError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One DFSP to onboard.
#[derive(Clone, Debug, Default)]
pub struct Onboarding {
    /// Participant name.
    pub name: String,
    /// Currency.
    pub currency: String,
    /// Net debit cap.
    pub net_debit_cap: String,
    /// Funds deposited as liquidity cover.
    pub funds_in: String,
    /// Base URL of its callback server (e.g. `http://127.0.0.1:4000`).
    pub callback_base: String,
    /// Public key (PEM) the hub verifies its `FSPIOP-Signature` with; registered when set.
    pub jws_public_key: Option<String>,
}

impl Onboarding {
    /// A DFSP to onboard, without a JWS key.
    pub fn new(
        name: impl Into<String>,
        currency: impl Into<String>,
        net_debit_cap: impl Into<String>,
        funds_in: impl Into<String>,
        callback_base: impl Into<String>,
    ) -> Onboarding {
        Onboarding {
            name: name.into(),
            currency: currency.into(),
            net_debit_cap: net_debit_cap.into(),
            funds_in: funds_in.into(),
            callback_base: callback_base.into(),
            jws_public_key: None,
        }
    }

    /// The same, registering `public_key_pem` as its JWS verification key.
    pub fn with_jws_public_key(mut self, public_key_pem: impl Into<String>) -> Onboarding {
        self.jws_public_key = Some(public_key_pem.into());
        self
    }
}

impl AdminClient {
    /// A client for the admin API at `base` that calls with `token`: an operator's session
    /// (`fls_…`) or API token (`flt_…`).
    pub fn new(
        http: reqwest::Client,
        base: impl Into<String>,
        token: impl Into<String>,
    ) -> AdminClient {
        AdminClient {
            http,
            base: base.into(),
            token: token.into(),
            approver: None,
            approved: Arc::default(),
        }
    }

    /// The same client, with `approver` approving every request the hub leaves pending for a
    /// checker (the approver must be another operator than the token's, holding
    /// `requests.approve`).
    pub fn with_approver(mut self, approver: OperatorSession) -> AdminClient {
        self.approver = Some(approver);
        self
    }

    /// The approver, if any.
    pub fn approver(&self) -> Option<&OperatorSession> {
        self.approver.as_ref()
    }

    /// The admin API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The requests the approver approved since the last call (shared by clones of this
    /// client, at most the last 1000).
    pub fn take_approved(&self) -> Vec<ApprovedRequest> {
        std::mem::take(
            &mut *self
                .approved
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Calls the admin API; returns the JSON answer (or `Null` for an empty body).
    ///
    /// A pending maker/checker answer (`202` with a `requestId`) is approved by the approver,
    /// and the executed operation's answer is returned as if the route had given it (a failed
    /// execution is [`AdminError::Refused`] with its status and body). Without an approver
    /// it is [`AdminError::Pending`].
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, AdminError> {
        let mut request = self
            .http
            .request(
                method,
                format!("{}{}", self.base.trim_end_matches('/'), path),
            )
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        if !(200..300).contains(&status) {
            return Err(AdminError::Refused { status, body: text });
        }
        let answer = parse_body(text);
        let Some(request_id) = pending_request_id(status, &answer) else {
            return Ok(answer);
        };
        let Some(approver) = &self.approver else {
            return Err(AdminError::Pending { request_id });
        };
        let approved = approver.approve(&request_id).await?;
        let state = approved["request"]["state"].as_str().unwrap_or_default();
        if state != "executed" {
            return Err(AdminError::NotExecuted {
                request_id,
                state: if state.is_empty() {
                    format!("unknown ({approved})")
                } else {
                    state.to_string()
                },
            });
        }
        let result = &approved["result"];
        let status = result["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| {
                AdminError::Local(format!(
                    "request {request_id} executed without a result status: {approved}"
                ))
            })?;
        let body = result["body"].clone();
        self.remember(&request_id, &approved["request"], approver.name(), status);
        if !(200..300).contains(&status) {
            return Err(AdminError::Refused {
                status,
                body: body_text(&body),
            });
        }
        Ok(body)
    }

    fn remember(&self, request_id: &str, request: &Value, approver: &str, status: u16) {
        let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
        let payload = &request["payload"];
        let subject = ["name", "participant"]
            .iter()
            .find_map(|key| payload[*key].as_str())
            .map(str::to_string);
        let mut log = self
            .approved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if log.len() >= APPROVED_LOG {
            log.remove(0);
        }
        log.push(ApprovedRequest {
            request_id: request_id.to_string(),
            operation: text(&request["operation"]),
            permission: text(&request["permission"]),
            subject,
            maker: text(&request["maker"]),
            approver: approver.to_string(),
            status,
        });
    }

    /// Creates the participant, its limit, its JWS key (when given), all callback endpoints,
    /// and deposits funds.
    pub async fn onboard(&self, dfsp: &Onboarding) -> Result<(), AdminError> {
        use reqwest::Method;
        self.call(
            Method::POST,
            "/participants",
            Some(json!({"name": dfsp.name, "currency": dfsp.currency})),
        )
        .await?;
        self.call(
            Method::POST,
            &format!("/participants/{}/initialPositionAndLimits", dfsp.name),
            Some(json!({"currency": dfsp.currency, "limit": {"type": "NET_DEBIT_CAP", "value": dfsp.net_debit_cap}, "initialPosition": 0})),
        )
        .await?;
        if let Some(pem) = &dfsp.jws_public_key {
            self.add_jws_key(&dfsp.name, pem).await?;
        }
        // Every endpoint in one request: one approval for the set.
        let endpoints: Vec<serde_json::Value> = callback_endpoints(&dfsp.callback_base)
            .into_iter()
            .map(|(kind, value)| json!({"type": kind, "value": value}))
            .collect();
        self.call(
            Method::POST,
            &format!("/participants/{}/endpoints", dfsp.name),
            Some(serde_json::Value::Array(endpoints)),
        )
        .await?;
        self.funds_in(&dfsp.name, &dfsp.currency, &dfsp.funds_in)
            .await
    }

    /// Registers a public key (PEM) the hub verifies the participant's `FSPIOP-Signature`
    /// with (`POST /participants/{name}/jwsKeys`); answers `{fingerprint, alg, ..}`.
    pub async fn add_jws_key(
        &self,
        participant: &str,
        public_key_pem: &str,
    ) -> Result<Value, AdminError> {
        self.call(
            reqwest::Method::POST,
            &format!("/participants/{participant}/jwsKeys"),
            Some(json!({"publicKey": public_key_pem})),
        )
        .await
    }

    /// The participant's registered JWS keys (`GET /participants/{name}/jwsKeys`).
    pub async fn jws_keys(&self, participant: &str) -> Result<Value, AdminError> {
        self.call(
            reqwest::Method::GET,
            &format!("/participants/{participant}/jwsKeys"),
            None,
        )
        .await
    }

    /// The hub's JWS public key (PEM) DFSPs verify hub messages with (`GET /hub/jwsKey`).
    pub async fn hub_jws_key(&self) -> Result<String, AdminError> {
        let answer = self.call(reqwest::Method::GET, "/hub/jwsKey", None).await?;
        answer["publicKey"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| AdminError::Refused {
                status: 200,
                body: format!("no publicKey in the hub's answer: {answer}"),
            })
    }

    /// Deposits funds into the participant's settlement account.
    pub async fn funds_in(
        &self,
        name: &str,
        currency: &str,
        amount: &str,
    ) -> Result<(), AdminError> {
        let account = self.settlement_account(name, currency).await?;
        let body = json!({
            "transferId": uuid::Uuid::new_v4().to_string(),
            "externalReference": "onboarding",
            "action": "recordFundsIn",
            "reason": "liquidity cover",
            "amount": {"amount": amount, "currency": currency},
        });
        self.call(
            reqwest::Method::POST,
            &format!("/participants/{name}/accounts/{account}"),
            Some(body),
        )
        .await?;
        Ok(())
    }

    /// The id of the participant's settlement account in a currency.
    pub async fn settlement_account(&self, name: &str, currency: &str) -> Result<i64, AdminError> {
        let accounts = self
            .call(
                reqwest::Method::GET,
                &format!("/participants/{name}/accounts"),
                None,
            )
            .await?;
        accounts
            .as_array()
            .and_then(|list| {
                list.iter()
                    .find(|a| a["ledgerAccountType"] == "SETTLEMENT" && a["currency"] == currency)
                    .and_then(|a| a["id"].as_i64())
            })
            .ok_or(AdminError::Refused {
                status: 404,
                body: format!("{name} has no {currency} settlement account"),
            })
    }

    /// `{value, reservedValue}` of a participant's position in a currency.
    pub async fn position(
        &self,
        name: &str,
        currency: &str,
    ) -> Result<(String, String), AdminError> {
        let position = self
            .call(
                reqwest::Method::GET,
                &format!("/participants/{name}/positions?currency={currency}"),
                None,
            )
            .await?;
        Ok((
            position["value"].as_str().unwrap_or("0").to_string(),
            position["reservedValue"]
                .as_str()
                .unwrap_or("0")
                .to_string(),
        ))
    }
}

/// Every FSPIOP callback endpoint of a DFSP whose callback server is at `base`.
pub fn callback_endpoints(base: &str) -> Vec<(&'static str, String)> {
    let base = base.trim_end_matches('/');
    vec![
        (
            "FSPIOP_CALLBACK_URL_PARTIES_GET",
            format!("{base}/parties/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}"),
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_GET",
            format!(
                "{base}/parties/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}/{{{{partySubIdOrType}}}}"
            ),
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTIES_PUT",
            format!("{base}/parties/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}"),
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT",
            format!(
                "{base}/parties/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}/{{{{partySubIdOrType}}}}"
            ),
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR",
            format!("{base}/parties/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}/error"),
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT_ERROR",
            format!(
                "{base}/parties/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}/{{{{partySubIdOrType}}}}/error"
            ),
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT",
            format!("{base}/participants/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}"),
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT",
            format!(
                "{base}/participants/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}/{{{{partySubIdOrType}}}}"
            ),
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT_ERROR",
            format!("{base}/participants/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}/error"),
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT_ERROR",
            format!(
                "{base}/participants/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}/{{{{partySubIdOrType}}}}/error"
            ),
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT",
            format!("{base}/participants/{{{{requestId}}}}"),
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT_ERROR",
            format!("{base}/participants/{{{{requestId}}}}/error"),
        ),
        ("FSPIOP_CALLBACK_URL_QUOTES", base.to_string()),
        ("FSPIOP_CALLBACK_URL_BULK_QUOTES", base.to_string()),
        ("FSPIOP_CALLBACK_URL_TRX_REQ_SERVICE", base.to_string()),
        ("FSPIOP_CALLBACK_URL_AUTHORIZATIONS", base.to_string()),
        (
            "FSPIOP_CALLBACK_URL_TRANSFER_POST",
            format!("{base}/transfers"),
        ),
        (
            "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
            format!("{base}/transfers/{{{{transferId}}}}"),
        ),
        (
            "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
            format!("{base}/transfers/{{{{transferId}}}}/error"),
        ),
    ]
}
