//! Operator IAM of the admin API, end to end over HTTP (docs/OPERATORS.md): first start,
//! password policy, lockout, TOTP, sessions, fresh MFA, API tokens, maker/checker, the approval
//! policy, separation of duties, the bootstrap phase and the audit export.
//!
//! Every hub runs on its own SQLite file with a manual clock, so expiry is tested by moving the
//! clock rather than by sleeping.

mod iam_support;

use iam_support::{Hub, Op, Profile, STEP, desc, strong_password};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn request_id(body: &Value) -> String {
    body["requestId"]
        .as_str()
        .unwrap_or_else(|| panic!("a pending request: {body}"))
        .to_string()
}

fn transfer_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn funds_in(amount: &str) -> Value {
    json!({
        "transferId": transfer_id(),
        "externalReference": "iam test",
        "action": "recordFundsIn",
        "reason": "iam test",
        "amount": {"amount": amount, "currency": "USD"},
    })
}

/// `failedLogins` of an operator, as `GET /operators` shows it.
async fn failed_logins(hub: &Hub, token: &str, name: &str) -> u64 {
    operator_entry(hub, token, name).await["failedLogins"]
        .as_u64()
        .expect("failedLogins")
}

async fn operator_entry(hub: &Hub, token: &str, name: &str) -> Value {
    let list = hub.get_ok("/operators", token).await;
    list.as_array()
        .expect("operators")
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("operator {name} in {list}"))
        .clone()
}

/// 1. First start: the one-time password file, the restricted first session, the password
///    change that removes the file, TOTP that opens the session, and no second admin at a
///    second start.
#[tokio::test]
async fn first_start_gives_one_admin_a_restricted_session_until_password_and_totp() {
    let mut hub = Hub::start(Profile::FourEyes).await;
    let path = hub.running().initial_admin_password_path.clone();
    assert_eq!(path, hub.data_dir.join("initial-admin-password"));
    let metadata = std::fs::metadata(&path).expect("the one-time password file exists");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600, "mode 0600");
        // The key sealing TOTP seeds: generated, private, in a private directory.
        let key = hub.data_dir.join(hub::iam::SEALING_KEY_FILE);
        let key_mode = std::fs::metadata(&key)
            .expect("sealing key")
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600, "sealing key 0600");
        let dir_mode = std::fs::metadata(key.parent().expect("dir"))
            .expect("iam dir")
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700, "iam directory 0700");
    }
    assert!(metadata.is_file());
    assert!(
        !hub.data_dir.join("admin-token").exists(),
        "no shared admin token any more"
    );
    let one_time = hub.initial_password();
    assert!(one_time.len() >= 32, "a long random password");

    // The first login: a restricted session.
    let reply = hub.login_raw("admin", &one_time, None, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["mustChangePassword"], true);
    assert_eq!(reply.body["mfaEnrolled"], false);
    let restricted = reply.body["session"].as_str().expect("session").to_string();
    assert!(restricted.starts_with("fls_"));
    let refused: [(Method, &str, Option<Value>); 5] = [
        (Method::GET, "/participants", None),
        (Method::GET, "/operators", None),
        (Method::GET, "/auth/tokens", None),
        (Method::GET, "/requests", None),
        (Method::POST, "/auth/mfa", Some(json!({"code": "123456"}))),
    ];
    for (method, route, body) in refused.clone() {
        let reply = hub
            .send(method.clone(), route, Some(&restricted), body)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{method} {route}: {}",
            reply.text
        );
        assert!(
            reply.desc().contains("change your one-time password first"),
            "{method} {route} names the reason: {}",
            reply.text
        );
    }
    let me = hub.get_ok("/auth/me", &restricted).await;
    assert_eq!(me["name"], "admin");
    assert!(me["restricted"].is_string(), "{me}");

    // The password change deletes the file and opens a new (still restricted) session.
    let password = strong_password();
    let reply = hub
        .send(
            Method::POST,
            "/auth/password",
            Some(&restricted),
            Some(json!({"currentPassword": one_time, "newPassword": password})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(!path.exists(), "the one-time password file is gone");
    let second = reply.body["session"].as_str().expect("session").to_string();
    let (status, _) = hub
        .call(Method::GET, "/auth/me", Some(&restricted), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old session ended");
    for (method, route, body) in refused {
        let reply = hub.send(method.clone(), route, Some(&second), body).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{method} {route}: {}",
            reply.text
        );
        assert!(reply.desc().contains("enrol TOTP first"), "{}", reply.text);
    }
    // The one-time password no longer logs in.
    let reply = hub.login_raw("admin", &one_time, None, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // TOTP enrolment makes the session a full one.
    let reply = hub
        .send(Method::POST, "/auth/mfa/enrol", Some(&second), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let secret = reply.body["secret"].as_str().expect("secret").to_string();
    assert!(
        reply.body["otpauthUri"]
            .as_str()
            .expect("uri")
            .starts_with("otpauth://totp/")
    );
    let step = hub.now_secs() / STEP;
    let reply = hub
        .send(
            Method::POST,
            "/auth/mfa/confirm",
            Some(&second),
            Some(json!({"secret": secret, "code": Hub::code_for(&secret, step)})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let full = reply.body["session"].as_str().expect("session").to_string();
    let (status, _) = hub
        .call(Method::GET, "/participants", Some(&second), None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a new session id after MFA"
    );
    let participants = hub.get_ok("/participants", &full).await;
    assert!(participants.is_array());
    let me = hub.get_ok("/auth/me", &full).await;
    assert_eq!(me["restricted"], Value::Null, "{me}");
    assert_eq!(me["mfaEnrolled"], true);
    assert_eq!(me["mfaFresh"], true);

    // A second start on the same data directory creates nobody.
    let mut admin = Op {
        name: "admin".into(),
        password,
        totp_secret: secret,
        session: full,
        recovery_codes: Vec::new(),
        last_step: Some(step),
    };
    hub.restart().await;
    assert!(!hub.running().initial_admin_password_path.exists());
    hub.login(&mut admin).await;
    let operators = hub.get_ok("/operators", &admin.session).await;
    let names: Vec<&str> = operators
        .as_array()
        .expect("operators")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(names, ["admin"]);
    let bootstraps = hub
        .audit_with(&admin.session, "operator.bootstrap", Some("admin"))
        .await;
    assert_eq!(bootstraps.len(), 1, "one bootstrap in all: {bootstraps:?}");
}

/// 2. Each password rule refuses on its own, naming the rule, and changes nothing.
#[tokio::test]
async fn the_password_policy_refuses_each_rule_and_changes_nothing() {
    let hub = Hub::start(Profile::Sandbox).await;
    let mut admin = hub.admin().await;
    // One more change, so that the history holds an older password than the current one.
    let first = admin.password.clone();
    let second = strong_password();
    let reply = hub
        .send(
            Method::POST,
            "/auth/password",
            Some(&admin.session),
            Some(json!({"currentPassword": first, "newPassword": second})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    admin.session = reply.body["session"].as_str().expect("session").to_string();
    admin.password = second.clone();

    let rules = [
        "is too short",
        "uses too few kinds of characters",
        "contains your user name",
        "is a common password",
        "was used recently",
    ];
    let cases = [
        ("Ab1!wxyz", rules[0]), // secret-scan: allow (a rejected candidate)
        ("onlylowercaseletters", rules[1]), // secret-scan: allow (a rejected candidate)
        ("Xk9!Admin-Qv77", rules[2]), // secret-scan: allow (a rejected candidate)
        ("Password1234!", rules[3]), // secret-scan: allow (on the common-password list)
        (first.as_str(), rules[4]),
        (second.as_str(), rules[4]),
    ];
    for (candidate, rule) in cases {
        let reply = hub
            .send(
                Method::POST,
                "/auth/password",
                Some(&admin.session),
                Some(json!({"currentPassword": second, "newPassword": candidate})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{candidate}: {}",
            reply.text
        );
        let description = reply.desc();
        assert!(
            description.contains("does not satisfy the policy") && description.contains(rule),
            "{candidate}: names {rule:?}: {description}"
        );
        for other in rules.iter().filter(|r| **r != rule) {
            assert!(
                !description.contains(other),
                "{candidate} breaks only {rule:?}: {description}"
            );
        }
        assert!(
            reply.body["errorInformation"]["errorCode"]
                .as_str()
                .is_some_and(|c| c.starts_with("31")),
            "a validation error: {}",
            reply.text
        );
    }
    // Nothing changed: the session still works and the password still logs in.
    let me = hub.get_ok("/auth/me", &admin.session).await;
    assert_eq!(me["name"], "admin");
    hub.login(&mut admin).await;
    let reply = hub.login_raw("admin", "Password1234!", None, None).await; // secret-scan: allow (the refused candidate)
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // After 90 days the password must be changed before anything else.
    hub.advance(90 * 24 * 3600);
    let reply = hub.login(&mut admin).await;
    assert_eq!(reply.body["mustChangePassword"], true, "{}", reply.text);
    let reply = hub
        .send(Method::GET, "/participants", Some(&admin.session), None)
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(
        reply.desc().contains("password has expired"),
        "{}",
        reply.text
    );
    let password = strong_password();
    let reply = hub
        .send(
            Method::POST,
            "/auth/password",
            Some(&admin.session),
            Some(json!({"currentPassword": admin.password, "newPassword": password})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let session = reply.body["session"].as_str().expect("session");
    hub.get_ok("/participants", session).await;
}

/// 3. Five wrong passwords lock the account; even the right password is refused with 429 and
///    Retry-After until the lockout is over; both events are audited.
#[tokio::test]
async fn failed_logins_lock_the_account_for_a_while() {
    let hub = Hub::start(Profile::Sandbox).await;
    let mut admin = hub.admin().await;
    for attempt in 1..=5 {
        let reply = hub
            .login_raw("admin", "Wrong-password-42", None, None) // secret-scan: allow (a wrong password on purpose)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {}",
            reply.text
        );
        assert!(reply.desc().contains(hub::iam::LOGIN_REFUSED));
    }
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
    let wait: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert!(reply.desc().contains("locked"), "{}", reply.text);

    let entry = operator_entry(&hub, &admin.session, "admin").await;
    assert_eq!(entry["failedLogins"], 5);
    assert!(entry["lockedUntil"].is_string(), "{entry}");
    let audit = hub.audit(&admin.session).await;
    let count = |action: &str| {
        audit
            .iter()
            .filter(|e| e["action"] == action && e["subject"] == "admin")
            .count()
    };
    assert_eq!(count("auth.login_failed"), 5, "every failure audited");
    assert_eq!(count("auth.lockout"), 1, "the lockout audited");
    assert_eq!(count("auth.locked_out"), 1, "the refused login audited");

    // Once the lockout is over, one more failure locks for twice as long.
    hub.advance(i64::try_from(wait).expect("small") + 1);
    let reply = hub
        .login_raw("admin", "Wrong-password-43", None, None) // secret-scan: allow (a wrong password on purpose)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
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
    let wait: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((61..=120).contains(&wait), "doubled: Retry-After {wait}");

    // Once that is over the right password works, and the count starts again.
    hub.advance(i64::try_from(wait).expect("small") + 1);
    hub.login(&mut admin).await;
    assert_eq!(failed_logins(&hub, &admin.session, "admin").await, 0);
}

/// 4. A TOTP code works once; a wrong one is a failure; a recovery code works once.
#[tokio::test]
async fn totp_codes_and_recovery_codes_work_once() {
    let hub = Hub::start(Profile::Sandbox).await;
    let mut admin = hub.admin().await;
    hub.advance(STEP as i64);
    let code = hub.code_now(&admin.totp_secret);
    admin.last_step = Some(hub.now_secs() / STEP);
    let reply = hub
        .login_raw("admin", &admin.password, Some(&code), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    admin.session = reply.body["session"].as_str().expect("session").to_string();

    // The same code again, in the same step: a replay. A login refusal never says which
    // factor failed (attacks_iam.rs: the password oracle).
    let reply = hub
        .login_raw("admin", &admin.password, Some(&code), None)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert!(
        reply.desc().contains(hub::iam::LOGIN_REFUSED),
        "{}",
        reply.text
    );
    assert_eq!(failed_logins(&hub, &admin.session, "admin").await, 1);
    // Nor for fresh MFA.
    let reply = hub
        .send(
            Method::POST,
            "/auth/mfa",
            Some(&admin.session),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert!(reply.desc().contains("already used"), "{}", reply.text);
    assert_eq!(failed_logins(&hub, &admin.session, "admin").await, 2);

    // A wrong code is refused and counts as a failure.
    let wrong = hub.wrong_code(&admin.totp_secret);
    let reply = hub
        .login_raw("admin", &admin.password, Some(&wrong), None)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert!(
        reply.desc().contains(hub::iam::LOGIN_REFUSED),
        "{}",
        reply.text
    );
    assert_eq!(failed_logins(&hub, &admin.session, "admin").await, 3);
    // Without any code: refused alike, and a failure too.
    let reply = hub.login_raw("admin", &admin.password, None, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert!(
        reply.desc().contains(hub::iam::LOGIN_REFUSED),
        "{}",
        reply.text
    );
    assert_eq!(failed_logins(&hub, &admin.session, "admin").await, 4);

    // A recovery code instead of TOTP: once.
    let recovery = admin.recovery_codes[0].clone();
    let reply = hub
        .login_raw("admin", &admin.password, None, Some(&recovery))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["mfaFresh"], true);
    assert_eq!(failed_logins(&hub, &admin.session, "admin").await, 0);
    let reply = hub
        .login_raw("admin", &admin.password, None, Some(&recovery))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert!(
        reply.desc().contains(hub::iam::LOGIN_REFUSED),
        "{}",
        reply.text
    );
    let reply = hub
        .login_raw(
            "admin",
            &admin.password,
            None,
            Some(&admin.recovery_codes[1]),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "another recovery code: {}",
        reply.text
    );
    let entry = operator_entry(&hub, &admin.session, "admin").await;
    assert_eq!(entry["recoveryCodesLeft"], 8);
}

/// 5. Sessions: cookie and bearer, logout, the end of other sessions at a password change and
///    of the target's at a role change, idle and absolute expiry.
#[tokio::test]
async fn sessions_end_when_they_should() {
    let hub = Hub::start(Profile::Sandbox).await;
    let mut admin = hub.admin().await;

    // The cookie works like the bearer header.
    let reply = hub.login(&mut admin).await;
    let cookie = reply.header("set-cookie").expect("Set-Cookie");
    assert!(
        cookie.starts_with(&format!("ferroloop_session={};", admin.session)),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(
            cookie.split(';').any(|a| a.trim() == attribute),
            "{attribute} in {cookie}"
        );
    }
    let reply = hub
        .send_cookie(Method::GET, "/auth/me", &admin.session)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["name"], "admin");
    assert_eq!(reply.body["credential"], "session");
    let reply = hub
        .send_cookie(Method::GET, "/participants", &admin.session)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reply = hub
        .send_cookie(Method::GET, "/auth/me", "fls_not-a-session")
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // Logout ends the session (and clears the cookie).
    let ended = admin.session.clone();
    let reply = hub
        .send(Method::POST, "/auth/logout", Some(&ended), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert!(
        reply
            .header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    let (status, _) = hub.call(Method::GET, "/auth/me", Some(&ended), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let reply = hub.send_cookie(Method::GET, "/auth/me", &ended).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // A password change ends the operator's other sessions.
    hub.login(&mut admin).await;
    let changing = admin.session.clone();
    hub.login(&mut admin).await;
    let other = admin.session.clone();
    let password = strong_password();
    let reply = hub
        .send(
            Method::POST,
            "/auth/password",
            Some(&changing),
            Some(json!({"currentPassword": admin.password, "newPassword": password})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    admin.password = password;
    admin.session = reply.body["session"].as_str().expect("session").to_string();
    for old in [&changing, &other] {
        let (status, _) = hub.call(Method::GET, "/auth/me", Some(old), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    hub.get_ok("/auth/me", &admin.session).await;

    // A role change ends the target's sessions.
    let mut olga = hub
        .new_operator(&mut admin, "olga", &["operator"], None)
        .await;
    let me = hub.get_ok("/auth/me", &olga.session).await;
    assert_eq!(me["roles"], json!(["operator"]));
    let reply = hub
        .send(
            Method::PUT,
            "/operators/olga/roles",
            Some(&admin.session),
            Some(json!({"roles": ["auditor"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let (status, _) = hub
        .call(Method::GET, "/auth/me", Some(&olga.session), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "olga's session ended");
    hub.get_ok("/auth/me", &admin.session).await;
    hub.login(&mut olga).await;
    let me = hub.get_ok("/auth/me", &olga.session).await;
    assert_eq!(me["roles"], json!(["auditor"]));

    // Disabling ends the sessions and refuses logins until re-enabled.
    let set_disabled = |disabled: bool| {
        let session = admin.session.clone();
        let hub = &hub;
        async move {
            hub.send(
                Method::PUT,
                "/operators/olga",
                Some(&session),
                Some(json!({"disabled": disabled})),
            )
            .await
        }
    };
    let reply = set_disabled(true).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let (status, _) = hub
        .call(Method::GET, "/auth/me", Some(&olga.session), None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a disabled operator's session ended"
    );
    let code = hub.next_code(&mut olga);
    let reply = hub
        .login_raw("olga", &olga.password, Some(&code), None)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    let reply = set_disabled(false).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    hub.login(&mut olga).await;

    // A reset ends the sessions and API tokens and clears password and TOTP.
    let reply = hub
        .send(
            Method::POST,
            "/auth/tokens",
            Some(&olga.session),
            Some(json!({"label": "olga", "scopes": ["participants.read"], "expiresInSecs": 3600})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let token = reply.body["token"].as_str().expect("token").to_string();
    hub.get_ok("/participants", &token).await;
    let reply = hub
        .send(
            Method::POST,
            "/operators/olga/reset",
            Some(&admin.session),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let one_time = reply.body["oneTimePassword"]
        .as_str()
        .expect("a new one-time password")
        .to_string();
    for credential in [&olga.session, &token] {
        let (status, _) = hub
            .call(Method::GET, "/participants", Some(credential), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let entry = operator_entry(&hub, &admin.session, "olga").await;
    assert_eq!(entry["mfaEnrolled"], false);
    assert_eq!(entry["mustChangePassword"], true);
    let code = hub.next_code(&mut olga);
    let reply = hub
        .login_raw("olga", &olga.password, Some(&code), None)
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "the old password: {}",
        reply.text
    );
    hub.first_login("olga", &one_time).await;

    // Idle expiry: use keeps a session alive; 15 minutes without use end it.
    let idle = admin.session.clone();
    for _ in 0..2 {
        hub.advance(14 * 60);
        hub.get_ok("/auth/me", &idle).await;
        hub.barrier().await;
    }
    hub.advance(15 * 60 + 1);
    let reply = hub.send(Method::GET, "/auth/me", Some(&idle), None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert!(reply.header("www-authenticate").is_some());

    // Absolute expiry: 8 hours after login, however busy.
    hub.login(&mut admin).await;
    let busy = admin.session.clone();
    let mut elapsed = 0;
    while elapsed + 14 * 60 < 8 * 3600 {
        hub.advance(14 * 60);
        elapsed += 14 * 60;
        hub.get_ok("/auth/me", &busy).await;
        hub.barrier().await;
    }
    hub.advance(8 * 3600 - elapsed + 1);
    let (status, _) = hub.call(Method::GET, "/auth/me", Some(&busy), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the absolute timeout");
}

/// 6. A sensitive request needs a TOTP code from the last 5 minutes.
#[tokio::test]
async fn sensitive_requests_need_fresh_mfa() {
    let hub = Hub::start(Profile::FourEyes).await;
    let mut admin = hub.admin().await;
    let mut sec = hub
        .new_operator(&mut admin, "sec", &["security-officer"], None)
        .await;
    hub.advance(6 * 60);
    let body = json!({"name": "dfspfresh", "currency": "USD"});
    let reply = hub
        .send(
            Method::POST,
            "/participants",
            Some(&admin.session),
            Some(body.clone()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert!(
        reply.desc().contains("fresh MFA required"),
        "{}",
        reply.text
    );
    let me = hub.get_ok("/auth/me", &admin.session).await;
    assert_eq!(me["mfaFresh"], false, "the session itself is fine");
    let requests = hub.get_ok("/requests", &admin.session).await;
    assert!(
        !requests.to_string().contains("dfspfresh"),
        "nothing was stored: {requests}"
    );
    let reply = hub
        .send(
            Method::POST,
            "/auth/tokens",
            Some(&admin.session),
            Some(json!({"label": "ci", "scopes": ["participants.read"], "expiresInSecs": 3600})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert!(reply.desc().contains("fresh MFA required"));
    let reply = hub
        .send(Method::POST, "/auth/mfa/enrol", Some(&admin.session), None)
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "re-enrolment: {}",
        reply.text
    );
    assert!(reply.desc().contains("fresh MFA required"));

    hub.mfa(&mut admin).await;
    let me = hub.get_ok("/auth/me", &admin.session).await;
    assert_eq!(me["mfaFresh"], true);
    let reply = hub
        .send(
            Method::POST,
            "/participants",
            Some(&admin.session),
            Some(body),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(reply.body["state"], "pending");
    let id = request_id(&reply.body);

    // Approving and rejecting need it too.
    let approve = format!("/requests/{id}/approve");
    let reply = hub
        .send(Method::POST, &approve, Some(&sec.session), None)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert!(
        reply.desc().contains("fresh MFA required"),
        "{}",
        reply.text
    );
    let reply = hub
        .send(
            Method::POST,
            &format!("/requests/{id}/reject"),
            Some(&sec.session),
            Some(json!({"reason": "stale"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    let pending = hub.get_ok(&format!("/requests/{id}"), &sec.session).await;
    assert_eq!(pending["state"], "pending");
    assert_eq!(pending["approvals"], json!([]));
    hub.mfa(&mut sec).await;
    let reply = hub
        .send(Method::POST, &approve, Some(&sec.session), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["result"]["status"], 201);
}

/// 7. API tokens: scopes within the owner's permissions, never approval; they work within
///    their scopes only, cannot approve, and stop at revocation or expiry; never listed.
#[tokio::test]
async fn api_tokens_are_scoped_revocable_and_never_approve() {
    let hub = Hub::start(Profile::FourEyes).await;
    let admin = hub.admin().await;
    let create = |scopes: Value, secs: u64| {
        let session = admin.session.clone();
        let hub = &hub;
        async move {
            hub.send(
                Method::POST,
                "/auth/tokens",
                Some(&session),
                Some(json!({"label": "pipeline", "scopes": scopes, "expiresInSecs": secs})),
            )
            .await
        }
    };
    let reply = create(json!(["funds.in"]), 3600).await;
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "a permission admin lacks: {}",
        reply.text
    );
    assert!(reply.desc().contains("funds.in"));
    for never in ["requests.approve", "users.manage"] {
        let reply = create(json!([never]), 3600).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{never}: {}",
            reply.text
        );
        assert!(reply.desc().contains(never));
    }
    let reply = create(json!(["participants.read"]), 100 * 24 * 3600).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "at most 90 days");

    let reply = create(json!(["participants.read", "participants.create"]), 3600).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let token = reply.body["token"].as_str().expect("token").to_string();
    let id = reply.body["id"].as_str().expect("id").to_string();
    assert!(token.starts_with("flt_"));

    // Within its scopes only.
    hub.get_ok("/participants", &token).await;
    let me = hub.get_ok("/auth/me", &token).await;
    assert_eq!(me["credential"], "apiToken");
    assert_eq!(
        me["permissions"],
        json!(["participants.read", "participants.create"])
    );
    let reply = hub
        .send(Method::GET, "/operators", Some(&token), None)
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(reply.desc().contains("needs iam.read"), "{}", reply.text);
    let reply = hub
        .send(
            Method::PUT,
            "/operators/admin",
            Some(&token),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);

    // It makes requests (no TOTP: automation) but never approves one.
    let reply = hub
        .send(
            Method::POST,
            "/participants",
            Some(&token),
            Some(json!({"name": "dfsptoken", "currency": "USD"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let request = request_id(&reply.body);
    let reply = hub
        .send(
            Method::POST,
            &format!("/requests/{request}/approve"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(reply.desc().contains("requests.approve"), "{}", reply.text);
    let pending = hub
        .get_ok(&format!("/requests/{request}"), &admin.session)
        .await;
    assert_eq!(pending["state"], "pending");
    assert_eq!(pending["approvals"], json!([]));
    // Nor does it make tokens.
    let reply = hub
        .send(
            Method::POST,
            "/auth/tokens",
            Some(&token),
            Some(json!({"label": "x", "scopes": ["participants.read"], "expiresInSecs": 3600})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);

    // Listed without the token itself.
    let reply = hub
        .send(Method::GET, "/auth/tokens", Some(&admin.session), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        !reply.text.contains(&token),
        "the token is never shown again"
    );
    assert!(!reply.text.contains(token.trim_start_matches("flt_")));
    let listed = reply.body.as_array().expect("tokens");
    assert!(
        listed
            .iter()
            .any(|t| t["id"] == id.as_str() && t["revokedAt"].is_null())
    );

    // Revoked: refused.
    let reply = hub
        .send(
            Method::DELETE,
            &format!("/auth/tokens/{id}"),
            Some(&admin.session),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    let (status, _) = hub
        .call(Method::GET, "/participants", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Expired: refused.
    let reply = create(json!(["participants.read"]), 60).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let short = reply.body["token"].as_str().expect("token").to_string();
    hub.get_ok("/participants", &short).await;
    hub.advance(61);
    let (status, _) = hub
        .call(Method::GET, "/participants", Some(&short), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let reply = hub
        .send(Method::GET, "/auth/tokens", Some(&admin.session), None)
        .await;
    assert!(!reply.text.contains(&short));
    assert_eq!(reply.body.as_array().map(Vec::len), Some(2));
}

/// 8. Maker/checker under four eyes: a request changes nothing until another operator
///    approves it; own requests, rejection, withdrawal, expiry and a failing execution.
#[tokio::test]
async fn maker_checker_requests_execute_only_after_another_operator_approves() {
    let hub = Hub::start(Profile::FourEyes).await;
    let mut admin = hub.admin().await;
    let mut integ = hub
        .new_operator(&mut admin, "integ", &["integration"], None)
        .await;
    let make = |op: &Op, path: &str, body: Value| {
        let session = op.session.clone();
        let path = path.to_string();
        let hub = &hub;
        async move {
            let reply = hub
                .send(Method::POST, &path, Some(&session), Some(body))
                .await;
            assert_eq!(reply.status, StatusCode::ACCEPTED, "{path}: {}", reply.text);
            reply
        }
    };
    let participant = |name: &str| json!({"name": name, "currency": "USD"});

    // The maker's request: 202, nothing done.
    let reply = make(&integ, "/participants", participant("dfspa")).await;
    let id = request_id(&reply.body);
    assert_eq!(reply.header("location"), Some(format!("/requests/{id}")));
    assert_eq!(reply.body["state"], "pending");
    assert_eq!(reply.body["permission"], "participants.create");
    assert_eq!(reply.body["approvalsRequired"], 1);
    let (status, _) = hub
        .call(
            Method::GET,
            "/participants/dfspa",
            Some(&integ.session),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not created yet");
    let pending = hub.get_ok("/requests?state=pending", &integ.session).await;
    assert!(
        pending
            .as_array()
            .expect("requests")
            .iter()
            .any(|r| r["id"] == id.as_str() && r["maker"] == "integ")
    );
    // The maker holds no requests.approve.
    let reply = hub.approve(&mut integ, &id).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(
        reply.desc().contains("needs requests.approve"),
        "{}",
        reply.text
    );

    // A checker never approves their own request.
    let reply = make(&admin, "/participants", participant("dfspown")).await;
    let own = request_id(&reply.body);
    let reply = hub.approve(&mut admin, &own).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(reply.desc().contains("own request"), "{}", reply.text);
    // Nor does someone who is neither its maker nor a checker reject it.
    let reply = hub
        .send(
            Method::POST,
            &format!("/requests/{own}/reject"),
            Some(&integ.session),
            Some(json!({"reason": "not mine"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(reply.desc().contains("requests.approve"), "{}", reply.text);
    let still = hub
        .get_ok(&format!("/requests/{own}"), &admin.session)
        .await;
    assert_eq!(still["state"], "pending");

    // Another operator approves: executed, with the route's answer.
    let answer = hub.approve_ok(&mut admin, &id).await;
    assert_eq!(answer["request"]["state"], "executed", "{answer}");
    assert_eq!(answer["result"]["status"], 201, "{answer}");
    assert_eq!(answer["result"]["body"]["name"], "dfspa");
    hub.get_ok("/participants/dfspa", &integ.session).await;
    let reply = hub.approve(&mut admin, &id).await;
    assert_eq!(
        reply.status,
        StatusCode::CONFLICT,
        "only once: {}",
        reply.text
    );
    let stored = hub.get_ok(&format!("/requests/{id}"), &integ.session).await;
    assert_eq!(stored["state"], "executed");
    assert_eq!(stored["approvals"][0]["operator"], "admin");
    assert_eq!(stored["result"]["status"], 201);

    // Rejected by a checker: nothing done, and it cannot be approved any more.
    let reply = make(&integ, "/participants", participant("dfspc")).await;
    let rejected = request_id(&reply.body);
    let reply = hub
        .send(
            Method::POST,
            &format!("/requests/{rejected}/reject"),
            Some(&admin.session),
            Some(json!({"reason": "not today"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["state"], "rejected");
    assert_eq!(reply.body["reason"], "not today");
    assert_eq!(reply.body["decidedBy"], "admin");
    let (status, _) = hub
        .call(
            Method::GET,
            "/participants/dfspc",
            Some(&admin.session),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let reply = hub.approve(&mut admin, &rejected).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);

    // Withdrawn by its maker.
    let reply = make(&integ, "/participants", participant("dfspd")).await;
    let withdrawn = request_id(&reply.body);
    let reply = hub
        .send(
            Method::POST,
            &format!("/requests/{withdrawn}/reject"),
            Some(&integ.session),
            Some(json!({"reason": "typo"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["state"], "rejected");
    assert_eq!(reply.body["decidedBy"], "integ");
    let (status, _) = hub
        .call(
            Method::GET,
            "/participants/dfspd",
            Some(&admin.session),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A request whose execution fails is executed with the failure, and changes nothing.
    let before = hub
        .get_ok("/participants/dfspa/accounts", &admin.session)
        .await;
    let reply = make(
        &integ,
        "/participants/dfspa/accounts/999999",
        funds_in("10"),
    )
    .await;
    let failing = request_id(&reply.body);
    let answer = hub.approve_ok(&mut admin, &failing).await;
    assert_eq!(answer["request"]["state"], "executed", "{answer}");
    let status = answer["result"]["status"].as_u64().expect("status");
    assert!((400..500).contains(&status), "{answer}");
    assert!(!desc(&answer["result"]["body"]).is_empty(), "{answer}");
    let after = hub
        .get_ok("/participants/dfspa/accounts", &admin.session)
        .await;
    assert_eq!(before, after, "nothing changed");

    // Requests expire after 24 hours.
    let reply = make(&integ, "/participants", participant("dfspe")).await;
    let expiring = request_id(&reply.body);
    hub.advance(24 * 3600 + 1);
    hub.login(&mut admin).await;
    let reply = hub.approve(&mut admin, &expiring).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    assert!(reply.desc().contains("expired"), "{}", reply.text);
    let stored = hub
        .get_ok(&format!("/requests/{expiring}"), &admin.session)
        .await;
    assert_eq!(stored["state"], "expired");
    let (status, _) = hub
        .call(
            Method::GET,
            "/participants/dfspe",
            Some(&admin.session),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// 9. Two checkers approving the same request at the same moment: it executes once.
#[tokio::test]
async fn concurrent_approvals_execute_once() {
    let hub = Hub::start(Profile::FourEyes).await;
    let mut admin = hub.admin().await;
    let mut sec = hub
        .new_operator(&mut admin, "sec", &["security-officer"], None)
        .await;
    let fin = hub
        .new_operator(&mut admin, "fin", &["finance-manager"], Some(&mut sec))
        .await;
    hub.participant(&mut admin, "dfspx", Some(&mut sec)).await;
    let (account, before) = hub.account(&fin.session, "dfspx", "SETTLEMENT").await;
    assert_eq!(before, "0");
    let reply = hub
        .send(
            Method::POST,
            &format!("/participants/dfspx/accounts/{account}"),
            Some(&fin.session),
            Some(funds_in("100")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(reply.body["approvalsRequired"], 1);
    let id = request_id(&reply.body);

    hub.mfa(&mut admin).await;
    hub.mfa(&mut sec).await;
    let path = format!("/requests/{id}/approve");
    let (first, second) = tokio::join!(
        hub.send(Method::POST, &path, Some(&admin.session), None),
        hub.send(Method::POST, &path, Some(&sec.session), None),
    );
    let answers = [&first, &second];
    let executed: Vec<_> = answers
        .iter()
        .filter(|r| r.status == StatusCode::OK && r.body.get("result").is_some())
        .collect();
    assert_eq!(
        executed.len(),
        1,
        "exactly one approval executes: {} / {}",
        first.text,
        second.text
    );
    assert_eq!(executed[0].body["result"]["status"], 202);
    let refused: Vec<_> = answers
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .collect();
    assert_eq!(refused.len(), 1, "{} / {}", first.text, second.text);

    let (_, after) = hub.account(&fin.session, "dfspx", "SETTLEMENT").await;
    assert_eq!(after, "-100", "the funds moved once");
    let executions = hub
        .audit_with(&admin.session, "request.executed", Some(&id))
        .await;
    assert_eq!(executions.len(), 1);
}

/// 10. The approval policy is itself four-eyes; two approvals mean two different checkers; the
///     sandbox profile executes at once.
#[tokio::test]
async fn the_approval_policy_is_four_eyes_and_the_sandbox_has_none() {
    let hub = Hub::start(Profile::FourEyes).await;
    let mut admin = hub.admin().await;
    let mut sec = hub
        .new_operator(&mut admin, "sec", &["security-officer"], None)
        .await;
    let fin = hub
        .new_operator(&mut admin, "fin", &["finance-manager"], Some(&mut sec))
        .await;

    let current = hub.get_ok("/policy", &admin.session).await;
    assert_eq!(current["profile"], "default");
    assert_eq!(current["approvals"]["funds.in"], 1);
    assert_eq!(current["withoutChecker"], json!([]));
    let mut policy = json!({
        "password": current["password"],
        "approvals": current["approvals"],
        "sessions": current["sessions"],
    });
    policy["approvals"]["funds.in"] = json!(2);
    let reply = hub
        .sensitive(&mut sec, Method::PUT, "/policy", Some(policy))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(reply.body["permission"], "policy.manage");
    let id = request_id(&reply.body);
    let unchanged = hub.get_ok("/policy", &admin.session).await;
    assert_eq!(unchanged["approvals"]["funds.in"], 1, "not before approval");
    let reply = hub.approve(&mut sec, &id).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    let answer = hub.approve_ok(&mut admin, &id).await;
    assert_eq!(answer["result"]["status"], 200, "{answer}");
    let changed = hub.get_ok("/policy", &admin.session).await;
    assert_eq!(changed["approvals"]["funds.in"], 2);

    hub.participant(&mut admin, "dfspy", Some(&mut sec)).await;
    let (account, _) = hub.account(&fin.session, "dfspy", "SETTLEMENT").await;
    let reply = hub
        .send(
            Method::POST,
            &format!("/participants/dfspy/accounts/{account}"),
            Some(&fin.session),
            Some(funds_in("100")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(reply.body["approvalsRequired"], 2);
    let id = request_id(&reply.body);
    let answer = hub.approve_ok(&mut admin, &id).await;
    assert!(answer.get("result").is_none(), "not executed yet: {answer}");
    assert_eq!(answer["request"]["state"], "pending");
    assert_eq!(
        answer["request"]["approvals"].as_array().map(Vec::len),
        Some(1)
    );
    let reply = hub.approve(&mut admin, &id).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    assert!(reply.desc().contains("already approved"), "{}", reply.text);
    let (_, value) = hub.account(&fin.session, "dfspy", "SETTLEMENT").await;
    assert_eq!(value, "0", "one approval of two moves nothing");
    let answer = hub.approve_ok(&mut sec, &id).await;
    assert_eq!(answer["request"]["state"], "executed", "{answer}");
    assert_eq!(answer["result"]["status"], 202);
    let (_, value) = hub.account(&fin.session, "dfspy", "SETTLEMENT").await;
    assert_eq!(value, "-100");

    // The sandbox profile: no checker, said everywhere.
    let sandbox = Hub::start(Profile::Sandbox).await;
    let admin = sandbox.admin().await;
    let policy = sandbox.get_ok("/policy", &admin.session).await;
    assert_eq!(policy["profile"], "sandbox");
    assert_eq!(policy["approvals"], json!({}));
    assert_eq!(
        policy["withoutChecker"].as_array().map(Vec::len),
        Some(iam::approval::SENSITIVE.len())
    );
    let me = sandbox.get_ok("/auth/me", &admin.session).await;
    assert_eq!(me["profile"], "sandbox");
    let reply = sandbox
        .send(
            Method::POST,
            "/participants",
            Some(&admin.session),
            Some(json!({"name": "dfspz", "currency": "USD"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["name"], "dfspz");
    sandbox.get_ok("/participants/dfspz", &admin.session).await;
    assert_eq!(sandbox.get_ok("/requests", &admin.session).await, json!([]));
}

/// 11. Separation of duties: toxic role combinations and custom roles are refused, and nobody
///     changes their own roles.
#[tokio::test]
async fn separation_of_duties_is_enforced() {
    let hub = Hub::start(Profile::Sandbox).await;
    let mut admin = hub.admin().await;
    let rule = "funds.in and requests.approve cannot be held by the same user";

    let reply = hub
        .send(
            Method::POST,
            "/operators",
            Some(&admin.session),
            Some(json!({"name": "toxic", "roles": ["hub-administrator", "finance-manager"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(reply.desc().contains(rule), "{}", reply.text);
    let operators = hub.get_ok("/operators", &admin.session).await;
    assert!(!operators.to_string().contains("toxic"), "not created");

    let olga_password = hub
        .create_operator(&mut admin, "olga", &["operator"], None)
        .await;
    let reply = hub
        .send(
            Method::PUT,
            "/operators/olga/roles",
            Some(&admin.session),
            Some(json!({"roles": ["hub-administrator", "finance-manager"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(reply.desc().contains(rule), "{}", reply.text);
    let olga = operator_entry(&hub, &admin.session, "olga").await;
    assert_eq!(olga["roles"], json!(["operator"]), "unchanged");

    // A custom role that breaks a rule by itself.
    let sec = hub
        .new_operator(&mut admin, "sec", &["security-officer"], None)
        .await;
    let reply = hub
        .send(
            Method::POST,
            "/roles",
            Some(&sec.session),
            Some(json!({"name": "toxic-role", "permissions": ["funds.in", "requests.approve"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(reply.desc().contains(rule), "{}", reply.text);
    let roles = hub.get_ok("/roles", &sec.session).await;
    assert!(!roles.to_string().contains("toxic-role"));
    // A custom role that is fine alone but not with the finance desk.
    let reply = hub
        .send(
            Method::POST,
            "/roles",
            Some(&sec.session),
            Some(json!({"name": "approver", "permissions": ["requests.approve"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reply = hub
        .send(
            Method::PUT,
            "/operators/olga/roles",
            Some(&admin.session),
            Some(json!({"roles": ["finance-manager", "approver"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(reply.desc().contains(rule), "{}", reply.text);

    // Nobody changes their own roles, state or credentials through user management.
    for name in ["admin", "ADMIN"] {
        let reply = hub
            .send(
                Method::PUT,
                &format!("/operators/{name}/roles"),
                Some(&admin.session),
                Some(json!({"roles": ["hub-administrator", "operator"]})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{name}: {}",
            reply.text
        );
        assert!(reply.desc().contains("your own account"), "{}", reply.text);
    }
    let reply = hub
        .send(
            Method::POST,
            "/operators/admin/reset",
            Some(&admin.session),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    let me = hub.get_ok("/auth/me", &admin.session).await;
    assert_eq!(me["roles"], json!(["hub-administrator"]));

    // At action time too: an assignment that breaks a rule (here written behind the API's
    // back) grants nothing, not even what each role would grant alone.
    let olga_op = hub.first_login("olga", &olga_password).await;
    use sqlx::Connection as _;
    let url = format!("sqlite://{}", hub.data_dir.join("hub.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the hub's database");
    sqlx::query("INSERT INTO operator_roles (operator, role) VALUES ('olga', 'finance-manager'), ('olga', 'hub-administrator')")
        .execute(&mut db)
        .await
        .expect("a conflicting assignment");
    let reply = hub
        .send(Method::GET, "/participants", Some(&olga_op.session), None)
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(
        reply.desc().contains("separation of duties"),
        "{}",
        reply.text
    );
}

/// 12. Four eyes need two people: while `admin` is the only operator who can approve, the API
///     accepts no operation that needs a checker — user management included (no bootstrap
///     bypass) — answers 409 saying to create a second administrator from the host, changes
///     nothing and audits the refusal. Once `admin2` exists (made on the host), user management
///     waits for a checker like everything else.
#[tokio::test]
async fn nothing_needing_a_checker_is_accepted_before_a_second_approver_exists() {
    let hub = Hub::start(Profile::FourEyes).await;
    let mut admin = hub.admin_alone().await;
    for (path, body) in [
        ("/operators", json!({"name": "aud", "roles": ["auditor"]})),
        (
            "/operators",
            json!({"name": "sec", "roles": ["security-officer"]}),
        ),
        ("/participants", json!({"name": "dfspx", "currency": "USD"})),
    ] {
        let reply = hub
            .sensitive(&mut admin, Method::POST, path, Some(body))
            .await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{path}: {}", reply.text);
        assert_eq!(reply.body["errorInformation"]["errorCode"], "3000");
        assert!(
            reply.desc().contains("ferroloop operator create"),
            "says what to do: {}",
            reply.text
        );
        assert!(reply.body.get("oneTimePassword").is_none());
    }
    let operators = hub.get_ok("/operators", &admin.session).await;
    assert_eq!(operators.as_array().map(Vec::len), Some(1), "{operators}");
    let participants = hub.get_ok("/participants", &admin.session).await;
    assert!(
        !participants.to_string().contains("dfspx"),
        "{participants}"
    );
    let refused = hub
        .audit_with(&admin.session, "request.refused", None)
        .await;
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|e| e["actor"] == "admin" && e["outcome"] == "denied"),
        "{refused:?}"
    );
    assert!(
        hub.audit_with(&admin.session, "iam.bootstrap", None)
            .await
            .is_empty(),
        "no bootstrap bypass any more"
    );

    // The second approver comes from the host; from then on requests wait for a checker.
    let mut admin2 = hub.second_admin().await;
    let reply = hub
        .sensitive(
            &mut admin,
            Method::POST,
            "/operators",
            Some(json!({"name": "op2", "roles": ["operator"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(reply.body["permission"], "users.manage");
    let id = request_id(&reply.body);
    let operators = hub.get_ok("/operators", &admin.session).await;
    assert!(!operators.to_string().contains("op2"));
    let answer = hub.approve_ok(&mut admin2, &id).await;
    assert_eq!(answer["result"]["status"], 201, "{answer}");
    let password = answer["result"]["body"]["oneTimePassword"]
        .as_str()
        .expect("the one-time password, to the approver");
    // The stored request does not keep the password.
    let stored = hub.get_ok(&format!("/requests/{id}"), &admin.session).await;
    assert!(!stored.to_string().contains(password), "{stored}");
    hub.first_login("op2", password).await;
    let created = hub
        .audit_with(&admin.session, "operator.host_create", Some("admin2"))
        .await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["actor"], "host");
}

/// 13. The audit export: ndjson in chain order with the security events, for those holding
///     audit.export only.
#[tokio::test]
async fn the_audit_export_is_the_whole_chain_for_auditors_only() {
    let hub = Hub::start(Profile::FourEyes).await;
    let mut admin = hub.admin().await;
    let aud = hub
        .new_operator(&mut admin, "aud", &["auditor"], None)
        .await;
    let reply = hub
        .login_raw("admin", "Wrong-password-42", None, None) // secret-scan: allow (a wrong password on purpose)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    hub.barrier().await;

    let reply = hub
        .send(Method::GET, "/audit/export", Some(&aud.session), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/x-ndjson")
    );
    let entries: Vec<Value> = reply
        .text
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert!(entries.len() > 10, "{}", reply.text);
    let mut previous_hash = "0".repeat(64);
    for (index, entry) in entries.iter().enumerate() {
        assert_eq!(entry["seq"], index as i64 + 1, "in order, no gap");
        assert_eq!(entry["prev_hash"], previous_hash.as_str(), "chained");
        previous_hash = entry["hash"].as_str().expect("hash").to_string();
    }
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "operator.bootstrap",
        "auth.login",
        "auth.password_changed",
        "auth.mfa_enrolled",
        "operators.create",
        "operator.host_create",
        "request.approve",
        "auth.login_failed",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    for secret in [
        &admin.password,
        &aud.password,
        &admin.totp_secret,
        &admin.session,
    ] {
        assert!(
            !reply.text.contains(secret.as_str()),
            "no secret in the audit log"
        );
    }
    let reply = hub
        .send(
            Method::GET,
            "/audit/export?after=5&limit=3",
            Some(&aud.session),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let seqs: Vec<i64> = reply
        .text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("JSON")["seq"]
                .as_i64()
                .expect("seq")
        })
        .collect();
    assert_eq!(seqs, [6, 7, 8]);

    // A hub administrator may not export.
    let reply = hub
        .send(Method::GET, "/audit/export", Some(&admin.session), None)
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(
        reply.desc().contains("needs audit.export"),
        "{}",
        reply.text
    );
    let forbidden = hub
        .audit_with(&aud.session, "admin.forbidden", Some("/audit/export"))
        .await;
    assert_eq!(forbidden.len(), 1);
    assert_eq!(forbidden[0]["actor"], "admin");
    let exports = hub.audit_with(&aud.session, "audit.export", None).await;
    assert_eq!(exports.len(), 2, "each export is audited");
}

/// TOTP seeds are stored sealed: the database holds neither the seed nor its base32 form, and
/// a hub with another sealing key cannot use them (the login fails; nothing is guessed).
#[tokio::test]
async fn totp_seeds_are_sealed_at_rest() {
    use sqlx::Connection as _;
    let mut hub = Hub::start(Profile::FourEyes).await;
    let mut admin = hub.admin().await;
    let url = format!("sqlite://{}", hub.data_dir.join("hub.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the hub's database");
    let (stored,): (String,) =
        sqlx::query_as("SELECT totp_secret_b32 FROM operators WHERE name = 'admin'")
            .fetch_one(&mut db)
            .await
            .expect("admin's row");
    assert_ne!(stored, admin.totp_secret);
    assert!(!stored.contains(&admin.totp_secret));
    assert!(
        stored.len() > admin.totp_secret.len() + 40,
        "nonce and tag: {stored}"
    );
    let reply = hub.login(&mut admin).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    // Another key: the stored seed no longer opens.
    let key = hub.data_dir.join(hub::iam::SEALING_KEY_FILE);
    std::fs::write(&key, "00".repeat(32)).expect("replace the key");
    hub.restart().await;
    let code = hub.next_code(&mut admin);
    let reply = hub
        .login_raw("admin", &admin.password, Some(&code), None)
        .await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
    assert!(reply.desc().contains("sealing.key"), "{}", reply.text);
}

/// Hub nodes sharing a database: a policy another node stored (written here straight into the
/// settings table) is in force on this node within the refresh interval.
#[tokio::test]
async fn a_policy_stored_by_another_node_comes_into_force() {
    use sqlx::Connection as _;
    let hub = Hub::start(Profile::FourEyes).await;
    let admin = hub.admin().await;
    let policy = hub.get_ok("/policy", &admin.session).await;
    assert_eq!(policy["approvals"]["funds.in"], 1, "{policy}");
    let mut changed = policy.clone();
    changed["approvals"]["funds.in"] = json!(2);
    for extra in ["profile", "withoutChecker"] {
        changed.as_object_mut().expect("object").remove(extra);
    }
    let url = format!("sqlite://{}", hub.data_dir.join("hub.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the hub's database");
    sqlx::query(
        "INSERT INTO settings (key, value_json, updated_at_ms, updated_by) \
         VALUES ('iam.policy', ?, 0, 'another-node')",
    )
    .bind(changed.to_string())
    .execute(&mut db)
    .await
    .expect("another node's policy");
    let policy = hub.get_ok("/policy", &admin.session).await;
    assert_eq!(
        policy["approvals"]["funds.in"], 1,
        "not yet re-read: {policy}"
    );
    hub.advance(31);
    let policy = hub.get_ok("/policy", &admin.session).await;
    assert_eq!(policy["approvals"]["funds.in"], 2, "re-read: {policy}");
}

/// The audit log is queryable: by actor, action (exact or a prefix), subject, outcome and time.
#[tokio::test]
async fn the_audit_log_is_queryable() {
    let hub = Hub::start(Profile::FourEyes).await;
    let mut admin = hub.admin().await;
    let aud = hub
        .new_operator(&mut admin, "aud", &["auditor"], None)
        .await;
    let reply = hub
        .login_raw("aud", "Wrong-password-42", None, None) // secret-scan: allow (a wrong password on purpose)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    hub.barrier().await;
    let query = |q: &str| {
        let path = format!("/audit?{q}");
        let session = aud.session.clone();
        let hub = &hub;
        async move {
            let reply = hub.send(Method::GET, &path, Some(&session), None).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
            reply.body.as_array().expect("array").clone()
        }
    };
    let all = query("limit=10000").await;
    assert!(all.len() > 5);

    let failures = query("action=auth.login_failed&subject=aud").await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["outcome"], "denied");
    let by_admin = query("actor=admin").await;
    assert!(!by_admin.is_empty());
    assert!(by_admin.iter().all(|e| e["actor"] == "admin"));
    let auth = query("action=auth.").await;
    assert!(
        auth.iter()
            .all(|e| e["action"].as_str().unwrap_or("").starts_with("auth."))
    );
    assert_eq!(auth, query("action=auth.*").await, "both prefix forms");
    assert!(auth.len() > failures.len());
    let denied = query("outcome=denied").await;
    assert!(denied.iter().all(|e| e["outcome"] == "denied"));
    assert!(denied.iter().any(|e| e["action"] == "auth.login_failed"));
    assert_eq!(query("actor=admin&limit=1").await.len(), 1);
    assert!(query("actor=nobody-at-all").await.is_empty());
    assert!(query("since=2999-01-01T00:00:00Z").await.is_empty());
    assert_eq!(
        query("until=2999-01-01T00:00:00Z&limit=10000").await.len(),
        all.len()
    );

    let reply = hub
        .send(
            Method::GET,
            "/audit?since=yesterday",
            Some(&aud.session),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(reply.desc().contains("RFC 3339"), "{}", reply.text);
}

/// Malformed admin input — a body that is not JSON or lacks a field, no JSON content type, a
/// path id that is not a number, an unknown or mistyped query parameter — is an FSPIOP
/// validation error naming the problem, and changes nothing.
#[tokio::test]
async fn malformed_admin_input_is_an_fspiop_error() {
    let hub = Hub::start(Profile::Sandbox).await;
    let admin = hub.admin().await;
    let post = |path: &str, content_type: Option<&str>, body: &str| {
        let mut request = hub
            .http
            .post(format!("{}{path}", hub.url))
            .bearer_auth(&admin.session)
            .body(body.to_string());
        if let Some(value) = content_type {
            request = request.header("content-type", value);
        }
        request.send()
    };
    let get = |path: &str| {
        hub.http
            .get(format!("{}{path}", hub.url))
            .bearer_auth(&admin.session)
            .send()
    };
    let cases = vec![
        (
            post("/participants", Some("application/json"), "{not json").await,
            "request body",
        ),
        (
            post(
                "/participants",
                Some("application/json"),
                r#"{"name":"dfspx"}"#,
            )
            .await,
            "currency",
        ),
        (
            post(
                "/participants",
                None,
                r#"{"name":"dfspx","currency":"USD"}"#,
            )
            .await,
            "request body",
        ),
        (
            hub.http
                .put(format!(
                    "{}/participants/dfspx/accounts/not-a-number",
                    hub.url
                ))
                .bearer_auth(&admin.session)
                .json(&json!({"isActive": true}))
                .send()
                .await,
            "path",
        ),
        (get("/audit?limit=many").await, "query"),
        (get("/audit?colour=blue").await, "query"),
    ];
    for (response, names) in cases {
        let response = response.expect("answered");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.expect("an FSPIOP error body");
        let code = body["errorInformation"]["errorCode"].as_str().unwrap_or("");
        assert!(code.starts_with("31"), "a validation code: {body}");
        assert!(desc(&body).contains(names), "{names}: {body}");
    }
    let reply = hub
        .send(
            Method::GET,
            "/participants/dfspx",
            Some(&admin.session),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "nothing was created");
}
