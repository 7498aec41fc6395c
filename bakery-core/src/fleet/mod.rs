//! L4, across bakes: what crashed bakes left behind ([`janitor`]), which fleets run
//! which releases ([`audit`]), and which roles are out of date ([`outdated`]).

pub mod audit;
pub mod janitor;
pub mod outdated;
