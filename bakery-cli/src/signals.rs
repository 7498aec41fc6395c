//! SIGINT and SIGTERM during a bake: the first interrupts it (it cleans up), a second
//! exits at once, listing what may be left.

use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::exit::Exit;
use crate::output::errln;
use crate::render::Renderer;

pub async fn watch(cancel: CancellationToken, renderer: Arc<Renderer>) {
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    let first = tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    renderer.notice(&format!(
        "{first} received: stopping the bake and removing what it created (signal again to exit at once)"
    ));
    cancel.cancel();
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    renderer.finish();
    let live = renderer.live_resources();
    if live.is_empty() {
        errln!("bakery: second signal, exiting now; nothing was left running");
    } else {
        errln!("bakery: second signal, exiting now without cleanup; these may be left behind:");
        for resource in live {
            errln!("  {}", resource.describe());
        }
        errln!("every one is tagged bakery:bake-id; remove them by hand (a builder also terminates itself at its deadline)");
    }
    std::process::exit(Exit::Interrupted.code().into());
}
