//! Onboarding through the hub's admin API (central-ledger-compatible paths).

use serde_json::{Value, json};

/// An admin-API client.
#[derive(Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
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
    /// A client for the admin API at `base` with the bootstrap token.
    pub fn new(
        http: reqwest::Client,
        base: impl Into<String>,
        token: impl Into<String>,
    ) -> AdminClient {
        AdminClient {
            http,
            base: base.into(),
            token: token.into(),
        }
    }

    /// Calls the admin API; returns the JSON answer (or `Null` for an empty body).
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
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        })
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
        for (kind, value) in callback_endpoints(&dfsp.callback_base) {
            self.call(
                Method::POST,
                &format!("/participants/{}/endpoints", dfsp.name),
                Some(json!({"type": kind, "value": value})),
            )
            .await?;
        }
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
