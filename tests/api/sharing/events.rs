//! The audit trail of shares, links and redemptions.

use super::*;

/// The stored sharing events (`share.*`, `link.*`) once the writer has stored every
/// event recorded so far; at least `n` of them.
async fn sharing_events(app: &TestApp, n: usize) -> Vec<coffer::audit::repo::StoredEvent> {
    app.app_state.audit.flush().await;
    let filter = coffer::audit::repo::Filter::default();
    let mut events = coffer::audit::repo::query(&app.app_state.db, &filter, 1000)
        .await
        .expect("query");
    events.retain(|e| e.action.starts_with("share.") || e.action.starts_with("link."));
    assert!(events.len() >= n, "fewer than {n} sharing audit events");
    events
}

#[tokio::test]
async fn share_and_link_changes_and_redemptions_are_audited_with_request_ids() {
    let w = World::new().await;
    let file = w.file("audited.txt", b"audit me").await;
    let link = create_link(
        &w.app,
        &w.alice.access,
        &file,
        json!({"password": "a fine password"}),
    )
    .await;
    let token = link["token"].as_str().expect("token");
    let res = raw_client()
        .post(w.app.url(&format!("/s/{token}/download")))
        .header("x-request-id", "redeem-ok-1")
        .json(&json!({"password": "a fine password"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::FOUND);
    let res = raw_client()
        .post(w.app.url(&format!("/s/{token}/download")))
        .header("x-request-id", "redeem-bad-1")
        .json(&json!({"password": "wrong password"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = w
        .app
        .client
        .delete(w.app.url(&format!(
            "/api/v1/files/{file}/links/{}",
            link["id"].as_str().expect("id")
        )))
        .bearer_auth(&w.alice.access)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    expect(
        w.call(
            Who::Owner,
            Method::DELETE,
            &format!("/api/v1/files/{}/shares/bob", w.shared),
            None,
        )
        .await,
        204,
        "unshare",
    )
    .await;

    let events = sharing_events(&w.app, 7).await;
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("share.created", "ok"),
            ("share.created", "ok"),
            ("link.created", "ok"),
            ("link.redeemed", "ok"),
            ("link.refused", "denied"),
            ("link.revoked", "ok"),
            ("share.revoked", "ok"),
        ]
    );
    let link_target = format!("link:{}", link["id"].as_str().expect("id"));
    assert_eq!(events[3].request_id.as_deref(), Some("redeem-ok-1"));
    assert_eq!(events[3].target.as_deref(), Some(link_target.as_str()));
    assert!(events[3].actor_id.is_none(), "anonymous");
    assert_eq!(events[4].request_id.as_deref(), Some("redeem-bad-1"));
    assert_eq!(
        events[4].detail.as_ref().expect("detail")["reason"],
        "password_invalid"
    );
    assert_eq!(events[0].actor_name.as_deref(), Some("alice"));
    assert!(events
        .iter()
        .all(|e| e.request_id.is_some() && e.ip.is_some()));
    // Neither the token nor the password is in the trail.
    let all = format!("{events:?}");
    assert!(
        !all.contains(token) && !all.contains("a fine password") && !all.contains("wrong password")
    );
}
