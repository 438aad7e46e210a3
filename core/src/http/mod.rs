//! HTTP as the core sees it: the parts of a request it decides on
//! ([`request`]), the route table ([`routes`]), and the responses it makes
//! itself ([`reply`]). How an error becomes a response is
//! [`crate::error::Rejection::reply`].

pub mod reply;
pub mod request;
pub mod routes;
