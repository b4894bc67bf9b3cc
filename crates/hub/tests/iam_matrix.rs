//! Every admin route × every built-in role, over HTTP: a role is refused (403) exactly when it
//! lacks the permission `iam::rbac::ADMIN_ROUTES` names for the route, each refusal is in the
//! audit log as `admin.forbidden`, every protected route wants credentials, and the public
//! routes answer without them.
//!
//! The hub runs the sandbox profile, so the calls really execute; their targets are chosen so
//! that no call breaks a later one (a victim operator for user management, the caller's own
//! token and custom role, the password change and the logout last).

mod iam_support;

use std::collections::{BTreeMap, BTreeSet};

use iam::rbac::{
    ADMIN_ROUTES, BuiltinRole, PUBLIC_ADMIN_ROUTES, Permission, RoutePermission,
    funds_action_permission,
};
use iam_support::{Hub, Op, Profile, Reply, strong_password};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The participant the calls act on.
const PARTICIPANT: &str = "dfsp1";
/// The operator user management acts on.
const VICTIM: &str = "victim";

/// What the calls of one role need to know about the hub.
struct Targets {
    settlement: i64,
    policy: Value,
}

/// One concrete call of a route.
struct Call {
    method: Method,
    template: &'static str,
    path: String,
    body: Option<Value>,
    /// The permission the call needs (the funds route: the action's), None for any operator.
    needs: Option<Permission>,
}

/// State a role's calls carry from one to the next.
#[derive(Default)]
struct Carry {
    token_id: Option<String>,
    enrolled_secret: Option<String>,
    out_transfer: String,
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).expect("HTTP method")
}

/// The path of a route template with plausible parameters (for calls without credentials).
fn placeholder_path(template: &str) -> String {
    template
        .replace("{name}", PARTICIPANT)
        .replace("{id}", "1")
        .replace("{transfer_id}", &uuid())
        .replace("{fingerprint}", &"0".repeat(64))
}

/// The calls a role makes for one route of `ADMIN_ROUTES` (the funds route: both actions).
fn calls_for(
    hub: &Hub,
    op: &mut Op,
    index: usize,
    (verb, template, rule): (&'static str, &'static str, RoutePermission),
    targets: &Targets,
    carry: &Carry,
) -> Vec<Call> {
    let fixed = match rule {
        RoutePermission::Fixed(permission) => Some(permission),
        _ => None,
    };
    let call = |path: String, body: Option<Value>| Call {
        method: method(verb),
        template,
        path,
        body,
        needs: fixed,
    };
    let participant = format!("/participants/{PARTICIPANT}");
    let account = format!("{participant}/accounts/{}", targets.settlement);
    let limit = json!({"type": "NET_DEBIT_CAP", "value": 1000});
    match (verb, template) {
        ("GET", "/participants") => vec![call(template.into(), None)],
        ("POST", "/participants") => vec![call(
            template.into(),
            Some(json!({"name": format!("made{index}"), "currency": "USD"})),
        )],
        ("GET", "/participants/{name}") => vec![call(participant, None)],
        ("PUT", "/participants/{name}") => {
            vec![call(participant, Some(json!({"isActive": true})))]
        }
        ("GET", "/participants/{name}/endpoints") => {
            vec![call(format!("{participant}/endpoints"), None)]
        }
        ("POST", "/participants/{name}/endpoints") => vec![call(
            format!("{participant}/endpoints"),
            Some(json!({"type": "FSPIOP_CALLBACK_URL_TRANSFER_POST",
                        "value": "http://127.0.0.1:9/callbacks"})),
        )],
        ("POST", "/participants/{name}/initialPositionAndLimits") => vec![call(
            format!("{participant}/initialPositionAndLimits"),
            Some(json!({"currency": "USD", "limit": limit, "initialPosition": 0})),
        )],
        ("GET", "/participants/{name}/limits") => {
            vec![call(format!("{participant}/limits"), None)]
        }
        ("PUT", "/participants/{name}/limits") => vec![call(
            format!("{participant}/limits"),
            Some(json!({"currency": "USD", "limit": limit})),
        )],
        ("GET", "/participants/{name}/accounts") => {
            vec![call(format!("{participant}/accounts"), None)]
        }
        // Accounts are only added to the hub participant.
        ("POST", "/participants/{name}/accounts") => vec![call(
            "/participants/Hub/accounts".into(),
            Some(json!({"currency": "USD", "type": "HUB_MULTILATERAL_SETTLEMENT"})),
        )],
        ("POST", "/participants/{name}/accounts/{id}") => {
            let funds = |action: &str, transfer: String, amount: &str| Call {
                method: Method::POST,
                template,
                path: account.clone(),
                body: Some(json!({
                    "transferId": transfer,
                    "externalReference": "matrix",
                    "action": action,
                    "reason": "matrix",
                    "amount": {"amount": amount, "currency": "USD"},
                })),
                needs: funds_action_permission(action),
            };
            vec![
                funds("recordFundsIn", uuid(), "10"),
                funds(
                    "recordFundsOutPrepareReserve",
                    carry.out_transfer.clone(),
                    "1",
                ),
            ]
        }
        ("PUT", "/participants/{name}/accounts/{id}") => {
            vec![call(account, Some(json!({"isActive": true})))]
        }
        ("PUT", "/participants/{name}/accounts/{id}/transfers/{transfer_id}") => vec![call(
            format!("{account}/transfers/{}", carry.out_transfer),
            Some(json!({"action": "recordFundsOutAbort"})),
        )],
        ("GET", "/participants/{name}/positions") => {
            vec![call(format!("{participant}/positions"), None)]
        }
        ("GET", "/participants/{name}/jwsKeys") => {
            vec![call(format!("{participant}/jwsKeys"), None)]
        }
        ("POST", "/participants/{name}/jwsKeys") => vec![call(
            format!("{participant}/jwsKeys"),
            Some(
                json!({"publicKey": "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n"}),
            ),
        )],
        ("DELETE", "/participants/{name}/jwsKeys/{fingerprint}") => vec![call(
            format!("{participant}/jwsKeys/{}", "0".repeat(64)),
            None,
        )],
        ("GET", "/participants/{name}/tls") => vec![call(format!("{participant}/tls"), None)],
        ("PUT", "/participants/{name}/tls") => vec![call(
            format!("{participant}/tls"),
            Some(json!({"spkiPin": null, "callbackCaPem": null})),
        )],
        // The matrix hub runs no CA: allowed calls are refused for that, never for permission.
        ("GET", "/participants/{name}/certificates") => {
            vec![call(format!("{participant}/certificates"), None)]
        }
        ("POST", "/participants/{name}/certificates") => vec![call(
            format!("{participant}/certificates"),
            Some(
                json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n", "days": 30}),
            ),
        )],
        ("DELETE", "/participants/{name}/certificates/{serial}") => vec![call(
            format!("{participant}/certificates/{}", "0f".repeat(16)),
            None,
        )],
        ("GET", "/hub/jwsKey")
        | ("POST", "/tls/reload")
        | ("GET", "/audit")
        | ("GET", "/deliveries")
        | ("GET", "/audit/export")
        | ("GET", "/auth/me")
        | ("GET", "/auth/tokens")
        | ("GET", "/operators")
        | ("GET", "/roles")
        | ("GET", "/policy")
        | ("GET", "/requests")
        | ("POST", "/auth/mfa/enrol") => {
            vec![call(template.into(), None)]
        }
        ("GET", "/transfers/{id}") => vec![call(format!("/transfers/{}", uuid()), None)],
        ("POST", "/auth/logout") => vec![call(template.into(), None)],
        ("POST", "/auth/password") => vec![call(
            template.into(),
            Some(json!({"currentPassword": op.password, "newPassword": strong_password()})),
        )],
        // A wrong code for the secret just enrolled: refused, nothing replaced.
        ("POST", "/auth/mfa/confirm") => {
            let secret = carry
                .enrolled_secret
                .clone()
                .unwrap_or_else(|| op.totp_secret.clone());
            let code = hub.wrong_code(&secret);
            vec![call(
                template.into(),
                Some(json!({"secret": secret, "code": code})),
            )]
        }
        ("POST", "/auth/mfa") => vec![call(
            template.into(),
            Some(json!({"code": hub.next_code(op)})),
        )],
        ("POST", "/auth/tokens") => vec![call(
            template.into(),
            Some(json!({"label": "matrix", "scopes": ["participants.read"],
                        "expiresInSecs": 3600})),
        )],
        ("DELETE", "/auth/tokens/{id}") => vec![call(
            format!(
                "/auth/tokens/{}",
                carry.token_id.clone().unwrap_or_else(|| "none".into())
            ),
            None,
        )],
        ("POST", "/operators") => vec![call(
            template.into(),
            Some(json!({"name": format!("made-by-{index}"), "roles": ["auditor"]})),
        )],
        ("PUT", "/operators/{name}") => vec![call(
            format!("/operators/{VICTIM}"),
            Some(json!({"disabled": false})),
        )],
        ("PUT", "/operators/{name}/roles") => vec![call(
            format!("/operators/{VICTIM}/roles"),
            Some(json!({"roles": ["auditor"]})),
        )],
        ("POST", "/operators/{name}/reset") => {
            vec![call(format!("/operators/{VICTIM}/reset"), None)]
        }
        ("POST", "/roles") => vec![call(
            template.into(),
            Some(json!({"name": format!("custom-{index}"), "permissions": ["audit.read"]})),
        )],
        ("DELETE", "/roles/{name}") => vec![call(format!("/roles/custom-{index}"), None)],
        ("PUT", "/policy") => vec![call(template.into(), Some(targets.policy.clone()))],
        ("GET", "/requests/{id}") => vec![call(format!("/requests/{}", uuid()), None)],
        ("POST", "/requests/{id}/approve") => {
            vec![call(format!("/requests/{}/approve", uuid()), None)]
        }
        ("POST", "/requests/{id}/reject") => vec![call(
            format!("/requests/{}/reject", uuid()),
            Some(json!({"reason": "matrix"})),
        )],
        (verb, template) => panic!(
            "{verb} {template} is in iam::rbac::ADMIN_ROUTES but not in this matrix: add a call"
        ),
    }
}

/// Whether an answer is a refusal for a missing permission (the route layer's "… needs …",
/// or a handler's "your roles do not allow …").
fn permission_refusal(reply: &Reply) -> bool {
    let description = reply.desc();
    reply.status == StatusCode::FORBIDDEN
        && (description.contains(" needs ") || description.contains("do not allow"))
}

#[tokio::test]
async fn every_route_refuses_exactly_the_roles_without_its_permission() {
    let hub = Hub::start(Profile::Sandbox).await;
    let mut admin = hub.admin().await;

    // Without credentials: every protected route is 401, the public ones answer.
    for (verb, template, _) in ADMIN_ROUTES {
        for token in [None, Some("fls_not-a-session"), Some("flt_not-a-token")] {
            let reply = hub
                .send(
                    method(verb),
                    &placeholder_path(template),
                    token,
                    Some(json!({})),
                )
                .await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{verb} {template} with {token:?}: {}",
                reply.text
            );
            assert!(reply.header("www-authenticate").is_some());
        }
    }
    for (verb, template) in PUBLIC_ADMIN_ROUTES {
        let reply = match (*verb, *template) {
            ("GET", "/health") => {
                let reply = hub.send(Method::GET, template, None, None).await;
                assert_eq!(reply.body["status"], "OK");
                reply
            }
            ("GET", "/openapi.json") => {
                let reply = hub.send(Method::GET, template, None, None).await;
                assert!(reply.body["paths"].is_object(), "{}", reply.text);
                reply
            }
            ("POST", "/auth/login") => {
                // Reaches the login check itself: a valid login works, a bad one is refused as
                // a bad login, not for missing credentials.
                let reply = hub
                    .login_raw("nobody", "Not-the-password-1", None, None) // secret-scan: allow (a wrong password on purpose)
                    .await;
                assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
                assert!(reply.desc().contains(hub::iam::LOGIN_REFUSED));
                hub.login(&mut admin).await
            }
            (verb, template) => panic!("public route {verb} {template} not checked here"),
        };
        assert!(
            reply.status.is_success(),
            "{verb} {template}: {}",
            reply.text
        );
    }

    // The hub's state the calls act on.
    hub.participant(&mut admin, PARTICIPANT, None).await;
    let (settlement, _) = hub.account(&admin.session, PARTICIPANT, "SETTLEMENT").await;
    hub.create_operator(&mut admin, VICTIM, &["auditor"], None)
        .await;
    let policy = hub.get_ok("/policy", &admin.session).await;
    let targets = Targets {
        settlement,
        policy: json!({
            "password": policy["password"],
            "approvals": policy["approvals"],
            "sessions": policy["sessions"],
        }),
    };

    // One operator per built-in role.
    let mut operators = Vec::new();
    for role in BuiltinRole::ALL {
        let name = format!("r-{}", role.as_str());
        let op = hub
            .new_operator(&mut admin, &name, &[role.as_str()], None)
            .await;
        operators.push((role, op));
    }

    // Each role calls every route; the password change and the logout come last.
    let last = ["/auth/password", "/auth/logout"];
    let mut order: Vec<_> = ADMIN_ROUTES
        .iter()
        .filter(|(_, template, _)| !last.contains(template))
        .copied()
        .collect();
    for template in last {
        order.extend(
            ADMIN_ROUTES
                .iter()
                .filter(|(_, t, _)| *t == template)
                .copied(),
        );
    }
    assert_eq!(order.len(), ADMIN_ROUTES.len());
    let mut expected_forbidden: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    let mut covered = BTreeSet::new();
    for (index, (role, op)) in operators.iter_mut().enumerate() {
        let permissions = role.permissions();
        let mut carry = Carry {
            out_transfer: uuid(),
            ..Carry::default()
        };
        let forbidden = expected_forbidden.entry(op.name.clone()).or_default();
        for route in order.iter().copied() {
            for call in calls_for(&hub, op, index, route, &targets, &carry) {
                let reply = hub
                    .send(
                        call.method.clone(),
                        &call.path,
                        Some(&op.session),
                        call.body,
                    )
                    .await;
                let what = format!(
                    "{} {} as {} ({}): {} {}",
                    call.method, call.path, op.name, call.template, reply.status, reply.text
                );
                covered.insert((call.method.to_string(), call.template));
                assert_ne!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
                let refused = permission_refusal(&reply);
                match call.needs {
                    Some(permission) => {
                        let lacks = !permissions.contains(permission);
                        assert_eq!(refused, lacks, "{permission}: {what}");
                        if lacks {
                            assert!(reply.desc().contains(permission.as_str()), "{what}");
                        } else {
                            assert_ne!(reply.status, StatusCode::FORBIDDEN, "{what}");
                        }
                    }
                    None => assert!(
                        !(reply.status == StatusCode::FORBIDDEN
                            && reply.desc().contains(" needs ")),
                        "any operator may call it: {what}"
                    ),
                }
                if refused && reply.desc().contains(" needs ") {
                    forbidden.insert((call.method.to_string(), call.template.to_string()));
                }
                // What later calls need.
                match (call.method.as_str(), call.template) {
                    ("POST", "/auth/tokens") if reply.status == StatusCode::CREATED => {
                        carry.token_id = reply.body["id"].as_str().map(str::to_string);
                    }
                    ("POST", "/auth/mfa/enrol") => {
                        assert_eq!(reply.status, StatusCode::OK, "{what}");
                        carry.enrolled_secret = reply.body["secret"].as_str().map(str::to_string);
                    }
                    ("POST", "/auth/password") => {
                        assert_eq!(reply.status, StatusCode::OK, "{what}");
                        op.session = reply.body["session"].as_str().expect("session").to_string();
                    }
                    ("DELETE", "/auth/tokens/{id}") => {
                        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{what}");
                    }
                    ("POST", "/auth/logout") => {
                        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{what}");
                    }
                    _ => {}
                }
            }
        }
        // The logout ended the session.
        let (status, _) = hub
            .call(Method::GET, "/auth/me", Some(&op.session), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{} logged out", op.name);
    }
    let all: BTreeSet<_> = ADMIN_ROUTES
        .iter()
        .map(|(verb, template, _)| (verb.to_string(), *template))
        .collect();
    assert_eq!(covered, all, "every route was called");

    // Every route-layer refusal is in the audit log, by whom and on what.
    let audit = hub.audit(&admin.session).await;
    let mut found: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for entry in audit.iter().filter(|e| e["action"] == "admin.forbidden") {
        let actor = entry["actor"].as_str().expect("actor").to_string();
        let detail: Value =
            serde_json::from_str(entry["detail"].as_str().expect("detail")).expect("JSON detail");
        let verb = detail["method"].as_str().expect("method").to_string();
        let subject = entry["subject"].as_str().expect("subject").to_string();
        assert_eq!(entry["outcome"], "denied");
        found
            .entry(actor.clone())
            .or_default()
            .insert((verb, subject));
        *counts.entry(actor).or_default() += 1;
    }
    for (actor, expected) in &expected_forbidden {
        let seen = found.get(actor).cloned().unwrap_or_default();
        assert_eq!(&seen, expected, "admin.forbidden entries of {actor}");
    }
    let refusals: usize = expected_forbidden.values().map(BTreeSet::len).sum();
    assert!(refusals > 50, "the matrix refused {refusals} calls");
    // The funds route is called twice per role: its refusals are audited twice.
    for (role, op) in &operators {
        let funds_refused = !role.permissions().contains(Permission::FundsIn)
            && !role.permissions().contains(Permission::FundsOut);
        let expected = expected_forbidden[&op.name].len() + usize::from(funds_refused);
        assert_eq!(
            counts.get(&op.name).copied().unwrap_or(0),
            expected,
            "one audit entry per refusal of {}",
            op.name
        );
    }
}
