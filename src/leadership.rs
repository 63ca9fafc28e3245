//! Whether this replica decides: one signal the whole process reads. The controllers start
//! when it says Leading and stop when it says Lost; the console shows it; the `leader` gauge
//! follows it.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leadership {
    /// A standby: serves probes, metrics and the console, writes nothing.
    Waiting,
    Leading,
    /// Was leading and lost the Lease: the process exits so it restarts as a standby.
    Lost,
}

/// The receiving end, cloned by whoever needs to know.
pub type Signal = tokio::sync::watch::Receiver<Leadership>;

/// A replica that never elects: it leads from the start.
pub fn sole() -> Signal {
    let (tx, rx) = tokio::sync::watch::channel(Leadership::Leading);
    // The value never changes; the receiver keeps reading it after the sender is gone.
    drop(tx);
    rx
}

/// Whether the signal says Leading now.
pub fn leading(signal: &Signal) -> bool {
    *signal.borrow() == Leadership::Leading
}
