// ankerl::unordered_dense as mediasoup uses it (map, set, hash), mapped onto
// std::unordered_map / std::unordered_set. Same interface for every call
// mediasoup makes; node-based instead of dense, so somewhat slower lookups.
#ifndef PODIUM_ANKERL_UNORDERED_DENSE_H
#define PODIUM_ANKERL_UNORDERED_DENSE_H

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace ankerl::unordered_dense {

template <class T, class Enable = void>
struct hash : std::hash<T> {
    using is_avalanching = void;
};

template <class Key,
          class T,
          class Hash = hash<Key>,
          class KeyEqual = std::equal_to<Key>,
          class Allocator = std::allocator<std::pair<const Key, T>>>
using map = std::unordered_map<Key, T, Hash, KeyEqual, Allocator>;

template <class Key,
          class Hash = hash<Key>,
          class KeyEqual = std::equal_to<Key>,
          class Allocator = std::allocator<Key>>
using set = std::unordered_set<Key, Hash, KeyEqual, Allocator>;

} // namespace ankerl::unordered_dense

#endif
