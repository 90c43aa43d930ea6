//! Hostile guest: refuses to start; `init` always fails.

wit_bindgen::generate!({ path: "../../../wit", world: "filter-plugin" });

use exports::logcatch::plugin::filter::Guest;
use logcatch::plugin::types::{EventBatch, Verdict};

struct BadInit;

impl Guest for BadInit {
    fn init(_config: String) -> Result<(), String> {
        Err("this plugin refuses to start: bad config".to_owned())
    }

    fn process(_batch: EventBatch) -> Result<Verdict, String> {
        Ok(Verdict::KeepAll)
    }
}

export!(BadInit);
