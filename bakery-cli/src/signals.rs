//! SIGINT and SIGTERM during a bake, a test run or a distribution: the first interrupts
//! it (it cleans up), a second exits at once, listing what may be left.

use std::sync::Arc;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::exit::Exit;
use crate::output::errln;
use crate::render::Renderer;

/// Installs the handlers now, before the bake's first step can be announced: a signal
/// that arrived before a spawned task first ran would meet the default action and
/// kill the process with nothing cleaned up.
pub fn watch(cancel: CancellationToken, renderer: Arc<Renderer>) -> tokio::task::JoinHandle<()> {
    let handlers = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    tokio::spawn(async move {
        if let (Ok(interrupt), Ok(terminate)) = handlers {
            act_on(interrupt, terminate, cancel, renderer).await;
        }
    })
}

async fn act_on(
    mut interrupt: Signal,
    mut terminate: Signal,
    cancel: CancellationToken,
    renderer: Arc<Renderer>,
) {
    let first = tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    renderer.notice(&format!(
        "{first} received: stopping, and removing what is not finished (signal again to exit at once)"
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
