//! What the process reads from the cluster, below the controller and the console that both use
//! it: watches that recover, the caches of every kind, and the delivery history ConfigMap.

pub mod changes;
pub mod client;
pub mod feed;
pub mod history;
pub mod stores;
pub mod watches;

pub use stores::{Feeds, Stores, Valid};
