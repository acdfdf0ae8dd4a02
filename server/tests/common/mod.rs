pub mod app;
pub mod cert;
pub mod rtp;
