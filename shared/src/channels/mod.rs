//! Sales channels: orders from a store's platform mapped to sales, as pure code ([`shopify`]), and
//! the messages the channels put on the sales queue ([`queue`]).

pub mod queue;
pub mod shopify;
