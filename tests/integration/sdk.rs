//! The official `pocketbase` npm SDK (pinned in infra/node) drives the
//! local server.

use authgate_tests::{repo_root, run_node, TestApp};

#[tokio::test]
async fn the_pocketbase_sdk_signs_up_logs_in_refreshes_and_lists_auth_methods() {
    let app = TestApp::spawn().await;
    let script = repo_root().join("infra/node/sdk-foundation.mjs");
    let (ok, out) = run_node(&script, &[("BASE_URL", app.base.clone())]).await;
    assert!(ok, "{out}");
    assert!(out.contains("sdk foundation: ok"), "{out}");
}
