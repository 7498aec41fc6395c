//! L4, across bakes: what crashed bakes left behind ([`janitor`]) and which fleets run
//! which releases ([`audit`]).

pub mod audit;
pub mod janitor;
