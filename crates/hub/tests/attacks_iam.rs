//! Operator-plane attacks of the security audit (issue 12, attacks 3–6), each reproduced
//! against a real hub on loopback: four eyes with one person, TOTP replay under concurrency,
//! lockout bypass under concurrency, and the password oracle without the second factor.
//! Each test failed on the code before the fix.

mod iam_support;

use iam_support::{Hub, Profile, Reply};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// How many requests each concurrency test sends at once.
const CONCURRENT_LOGINS: usize = 8;
/// Wrong passwords sent at once in the lockout test.
const CONCURRENT_WRONG: usize = 40;
/// Longer than the lockout that up to [`CONCURRENT_LOGINS`] failures can set (60 s doubled
/// twice), shorter than a session's idle timeout.
const LOCKOUT_OVER_SECS: i64 = 300;

fn statuses(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.status.as_u16()).collect()
}

/// Sends `n` `POST {path}` at once (each its own task), with `body(i)` and the bearer token if
/// given; the replies in the order they came.
async fn post_all(
    hub: &Hub,
    n: usize,
    path: &str,
    token: Option<&str>,
    body: impl Fn(usize) -> Value,
) -> Vec<Reply> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let mut request = hub.http.post(format!("{}{path}", hub.url)).json(&body(i));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        tasks.spawn(async move {
            let response = request.send().await.expect("admin API reachable");
            let status = response.status();
            let headers = response.headers().clone();
            let text = response.text().await.expect("body");
            Reply {
                status,
                headers,
                body: serde_json::from_str(&text).unwrap_or(Value::Null),
                text,
            }
        });
    }
    let mut replies = Vec::new();
    while let Some(reply) = tasks.join_next().await {
        replies.push(reply.expect("task"));
    }
    replies
}

fn login_body(password: &str, totp: Option<&str>, recovery: Option<&str>) -> Value {
    let mut body = json!({"username": "admin", "password": password});
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    if let Some(code) = recovery {
        body["recoveryCode"] = json!(code);
    }
    body
}

/// Attack 3, four eyes with one person. With only the first administrator's session, the
/// bootstrap bypass let `POST /operators {"roles":["hub-administrator"]}` execute at once:
/// one person held a second approver (then a finance-manager, then moved money). Now every
/// operation that needs a checker is refused (409, audited, nothing changes) while fewer than
/// two operators can approve — a second administrator, a finance-manager, an `integration`
/// account (one person as maker and checker), a participant — and the second approver comes
/// only from the host. After that, admin's own requests still need the other person.
#[tokio::test]
async fn one_administrator_alone_cannot_make_a_second_approver_or_move_money() {
    let hub = Hub::start(Profile::FourEyes).await;
    let mut admin = hub.admin_alone().await;
    for (path, body) in [
        (
            "/operators",
            json!({"name": "evil2", "roles": ["hub-administrator"]}),
        ),
        (
            "/operators",
            json!({"name": "evilsec", "roles": ["security-officer"]}),
        ),
        (
            "/operators",
            json!({"name": "fin", "roles": ["finance-manager"]}),
        ),
        (
            "/operators",
            json!({"name": "integration", "roles": ["integration"]}),
        ),
        ("/participants", json!({"name": "mule", "currency": "USD"})),
    ] {
        let reply = hub
            .sensitive(&mut admin, Method::POST, path, Some(body.clone()))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CONFLICT,
            "{path} {body}: must not execute (or wait) without a second approver: {}",
            reply.text
        );
        assert!(
            reply.desc().contains("ferroloop operator create"),
            "{}",
            reply.text
        );
        assert!(!reply.text.contains("oneTimePassword"), "{}", reply.text);
    }
    let operators = hub.get_ok("/operators", &admin.session).await;
    let names: Vec<&str> = operators
        .as_array()
        .expect("operators")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(names, ["admin"], "nobody was created");
    assert_eq!(hub.get_ok("/requests", &admin.session).await, json!([]));
    assert_eq!(
        hub.audit_with(&admin.session, "request.refused", None)
            .await
            .len(),
        5,
        "every refusal audited"
    );

    // The ceremony: the second administrator from the host. Then four eyes work, and admin
    // still cannot act alone.
    let mut admin2 = hub.second_admin().await;
    let reply = hub
        .sensitive(
            &mut admin,
            Method::POST,
            "/operators",
            Some(json!({"name": "fin", "roles": ["finance-manager"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let id = reply.body["requestId"].as_str().expect("request id");
    let own = hub.approve(&mut admin, id).await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{}", own.text);
    let answer = hub.approve_ok(&mut admin2, id).await;
    assert_eq!(answer["result"]["status"], 201, "{answer}");
    let reply = hub
        .sensitive(
            &mut admin,
            Method::POST,
            "/participants",
            Some(json!({"name": "dfspa", "currency": "USD"})),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::ACCEPTED,
        "a participant waits for the other person: {}",
        reply.text
    );
}

/// Attack 3, the host side: `hub::iam::host_create_operator` refuses what `POST /operators`
/// refuses (bad name, unknown role, separation of duties, an existing name), writes nothing
/// then, and records a creation in the audit chain as the host's.
#[tokio::test]
async fn the_host_creates_operators_under_the_same_rules() {
    let hub = Hub::start(Profile::FourEyes).await;
    let admin = hub.admin_alone().await;
    let store = store::SqliteStore::open(&hub.data_dir.join("hub.db"))
        .await
        .expect("store");
    let now = hub.now_secs() as i64 * 1000;
    for (name, roles, why) in [
        ("bad name!", vec!["hub-administrator"], "operator name"),
        ("x", vec!["no-such-role"], "unknown role"),
        ("x", vec![], "at least one role"),
        (
            "x",
            vec!["hub-administrator", "finance-manager"],
            "cannot be held",
        ),
        ("ADMIN", vec!["auditor"], "already exists"),
    ] {
        let roles: Vec<String> = roles.into_iter().map(String::from).collect();
        let error = hub::iam::host_create_operator(&store, &hub.data_dir, name, &roles, now)
            .await
            .expect_err(why);
        assert!(error.contains(why), "{why}: {error}");
    }
    let operators = hub.get_ok("/operators", &admin.session).await;
    assert_eq!(operators.as_array().map(Vec::len), Some(1), "{operators}");
    hub.host_operator("admin2", &["hub-administrator"]).await;
    let created = hub
        .audit_with(&admin.session, "operator.host_create", Some("admin2"))
        .await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["actor"], "host");
    assert!(
        created[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("\"approvers\":2")),
        "{created:?}"
    );
}

/// Attack 4, TOTP replay under concurrency: the same password and TOTP code in 8 concurrent
/// logins gave 8 sessions. The step is consumed by compare-and-set in the store: exactly one
/// session. The same for 8 concurrent step-ups (`POST /auth/mfa`) and 8 concurrent logins
/// with one recovery code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_totp_code_opens_one_session_however_many_logins_race() {
    let hub = Hub::start(Profile::Sandbox).await;
    let mut admin = hub.admin().await;
    let code = hub.next_code(&mut admin);
    let replies = post_all(&hub, CONCURRENT_LOGINS, "/auth/login", None, |_| {
        login_body(&admin.password, Some(&code), None)
    })
    .await;
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "one session for one code: {:?}", statuses(&replies));
    assert!(
        replies.iter().all(|r| matches!(
            r.status,
            StatusCode::OK | StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
        )),
        "{:?}",
        statuses(&replies)
    );
    let session = replies
        .iter()
        .find(|r| r.status == StatusCode::OK)
        .and_then(|r| r.body["session"].as_str())
        .expect("the session")
        .to_string();
    let logins = hub.audit_with(&session, "auth.login", Some("admin")).await;
    // The first login (no TOTP yet) and this one.
    assert_eq!(logins.len(), 2, "{logins:?}");

    // Fresh MFA with one code, 8 times at once: accepted once. (The clock moves past any
    // lockout the refused racers may have left.)
    hub.advance(LOCKOUT_OVER_SECS);
    admin.session = session;
    let code = hub.next_code(&mut admin);
    let replies = post_all(
        &hub,
        CONCURRENT_LOGINS,
        "/auth/mfa",
        Some(&admin.session),
        |_| json!({"code": code}),
    )
    .await;
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "one step-up for one code: {:?}", statuses(&replies));

    // One recovery code, 8 logins at once: one session, one code gone.
    hub.advance(LOCKOUT_OVER_SECS);
    let recovery = admin.recovery_codes[0].clone();
    let replies = post_all(&hub, CONCURRENT_LOGINS, "/auth/login", None, |_| {
        login_body(&admin.password, None, Some(&recovery))
    })
    .await;
    let sessions: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .collect();
    assert_eq!(
        sessions.len(),
        1,
        "one session for one recovery code: {:?}",
        statuses(&replies)
    );
    let session = sessions[0].body["session"].as_str().expect("session");
    let operators = hub.get_ok("/operators", session).await;
    let entry = operators
        .as_array()
        .expect("operators")
        .iter()
        .find(|o| o["name"] == "admin")
        .expect("admin")
        .clone();
    assert_eq!(entry["recoveryCodesLeft"], 9, "{entry}");
}

/// Attack 5, lockout bypass under concurrency: 40 concurrent wrong passwords were all checked
/// before the lock. Attempts are counted in the store (compare-and-set) before the password is
/// checked: exactly `max_failed_attempts` (5) are checked and refused as wrong, the other 35
/// get 429 with Retry-After without an argon2 check, and the right password is refused while
/// the lock holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_wrong_passwords_at_once_stop_at_the_lockout_threshold() {
    let hub = Hub::start(Profile::Sandbox).await;
    let mut admin = hub.admin().await;
    let threshold = iam::password::PasswordPolicy::default().max_failed_attempts as usize;
    let replies = post_all(&hub, CONCURRENT_WRONG, "/auth/login", None, |n| {
        login_body(&format!("Wrong-password-{n}"), None, None) // secret-scan: allow (wrong passwords on purpose)
    })
    .await;
    let wrong = replies
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    let locked: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(
        wrong,
        threshold,
        "only the attempts below the threshold are checked: {:?}",
        statuses(&replies)
    );
    assert_eq!(locked.len(), CONCURRENT_WRONG - threshold);
    for reply in &locked {
        let wait: u64 = reply
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .expect("seconds");
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
    }
    // The right password (and a right code) is refused while locked.
    let code = hub.next_code(&mut admin);
    let reply = hub
        .login_raw("admin", &admin.password, Some(&code), None)
        .await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.text
    );
    let audit = hub.audit(&admin.session).await;
    let count = |action: &str| {
        audit
            .iter()
            .filter(|e| e["action"] == action && e["subject"] == "admin")
            .count()
    };
    assert_eq!(count("auth.login_failed"), threshold, "checked attempts");
    assert_eq!(count("auth.lockout"), 1);
    assert_eq!(count("auth.locked_out"), CONCURRENT_WRONG - threshold + 1);
    let operators = hub.get_ok("/operators", &admin.session).await;
    let entry = operators
        .as_array()
        .expect("operators")
        .iter()
        .find(|o| o["name"] == "admin")
        .expect("admin")
        .clone();
    assert_eq!(entry["failedLogins"], threshold, "{entry}");
}

/// Attack 6, the password oracle: the right password without TOTP answered "a TOTP code is
/// required", a wrong one "invalid user name or password". Now every refusal before a
/// session — right password without a code, wrong password, right password with a wrong
/// code, unknown operator — is byte-identical (status, body, headers but `date`), each after
/// an argon2 check. Counted failures are the same too.
#[tokio::test]
async fn a_right_password_without_the_second_factor_answers_like_a_wrong_one() {
    let hub = Hub::start(Profile::Sandbox).await;
    let admin = hub.admin().await;
    let wrong_code = hub.wrong_code(&admin.totp_secret);
    let right_without_code = hub.login_raw("admin", &admin.password, None, None).await;
    let wrong_password = hub
        .login_raw("admin", "Not-the-password-1", None, None) // secret-scan: allow (a wrong password on purpose)
        .await;
    let right_with_wrong_code = hub
        .login_raw("admin", &admin.password, Some(&wrong_code), None)
        .await;
    let unknown = hub
        .login_raw("nobody", "Not-the-password-1", None, None) // secret-scan: allow (a wrong password on purpose)
        .await;
    let headers = |reply: &Reply| {
        let mut list: Vec<(String, String)> = reply
            .headers
            .iter()
            .filter(|(name, _)| *name != "date")
            .map(|(name, value)| {
                (
                    name.to_string(),
                    value.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        list.sort();
        list
    };
    for (what, other) in [
        ("a wrong password", &wrong_password),
        (
            "the right password with a wrong code",
            &right_with_wrong_code,
        ),
        ("an unknown operator", &unknown),
    ] {
        assert_eq!(right_without_code.status, other.status, "{what}");
        assert_eq!(right_without_code.text, other.text, "{what}: same bytes");
        assert_eq!(headers(&right_without_code), headers(other), "{what}");
    }
    assert_eq!(right_without_code.status, StatusCode::UNAUTHORIZED);
    assert!(
        right_without_code.desc().contains(hub::iam::LOGIN_REFUSED),
        "{}",
        right_without_code.text
    );
    let audit = hub.audit(&admin.session).await;
    let factors: Vec<String> = audit
        .iter()
        .filter(|e| e["action"] == "auth.login_failed" && e["subject"] == "admin")
        .filter_map(|e| e["detail"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        factors.len(),
        3,
        "each counted as a failed login: {factors:?}"
    );
}
