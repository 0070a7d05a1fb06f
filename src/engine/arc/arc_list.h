// arc_list.h — an intrusive doubly linked list with a byte count, for the ARC's four lists.
//
// Entries carry their own links, so moving an entry between lists (the ARC does it on a T1
// block's second hit and on eviction) allocates nothing. Head = most recently used, tail = least recently used.
// Not thread-safe: the cache's mutex protects every list.
#pragma once

#include <cstdint>

namespace zvfs::arc {

template <class E>
class ArcList {
 public:
  void push_front(E* e) {
    e->prev = nullptr;
    e->next = head_;
    if (head_) head_->prev = e;
    head_ = e;
    if (!tail_) tail_ = e;
    bytes_ += e->size;
    ++count_;
  }
  void remove(E* e) {
    if (e->prev)
      e->prev->next = e->next;
    else
      head_ = e->next;
    if (e->next)
      e->next->prev = e->prev;
    else
      tail_ = e->prev;
    e->prev = e->next = nullptr;
    bytes_ -= e->size;
    --count_;
  }
  E* tail() const { return tail_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t count() const { return count_; }
  bool empty() const { return head_ == nullptr; }

 private:
  E* head_ = nullptr;
  E* tail_ = nullptr;
  uint64_t bytes_ = 0;
  uint64_t count_ = 0;
};

}  // namespace zvfs::arc
