pub mod app;
pub mod rtp;
