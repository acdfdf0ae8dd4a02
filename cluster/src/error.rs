use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClusterError {
    /// Redis is down or unreachable (or did not answer in time): the
    /// request was not done. Running classes are not affected.
    #[error("Redis unavailable: {0}")]
    Unavailable(String),
    /// Redis answered with an error.
    #[error("Redis error: {0}")]
    Redis(String),
    /// Bad cluster configuration.
    #[error("cluster configuration: {0}")]
    Config(String),
    /// A message on the bus not signed with this cluster's secret, or too
    /// old: dropped.
    #[error("message refused: {0}")]
    Refused(String),
    /// A record in Redis this node cannot read.
    #[error("malformed record: {0}")]
    Malformed(String),
}

impl From<redis::RedisError> for ClusterError {
    fn from(error: redis::RedisError) -> Self {
        if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_timeout()
        {
            ClusterError::Unavailable(error.to_string())
        } else {
            ClusterError::Redis(error.to_string())
        }
    }
}
