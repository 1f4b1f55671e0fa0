#include "mycelium/services/instance_queue.hpp"

namespace mycelium::services {

step instance_queue::next(wall_ms now) {
  step s;
  if (writing_ || jobs_.empty())
    return s;
  s.j = std::move(jobs_.front());
  jobs_.pop_front();
  switch (s.j.what) {
  case job::type::freeze:
  case job::type::unfreeze:
    s.what = step::type::write;
    s.next = rec_;
    s.next.frozen = s.j.what == job::type::freeze;
    break;
  case job::type::merge:
    if (rec_.ops != s.j.merged_at_ops) {
      s.what = step::type::drop;
      return s;
    }
    s.what = step::type::write;
    s.next = absorb(rec_, *s.j.loser, s.j.merged_state,
                    common_ancestor(kind_, rec_, *s.j.loser), now);
    break;
  case job::type::call: {
    if (rec_.frozen) {
      s.what = step::type::refuse;
      s.error = rec_.service + ": this instance is frozen while the split it "
                               "is part of is merged; try again in a moment";
      return s;
    }
    auto r = apply(kind_, rec_.state, s.j.op);
    if (!r) {
      s.what = step::type::refuse;
      s.bad_request = true;
      s.error = r.err().message();
      return s;
    }
    s.answer = r->answer;
    if (!r->changed) {
      s.what = step::type::answer;
      return s;
    }
    s.what = step::type::write;
    s.next = after_operation(rec_, *r, now);
    break;
  }
  }
  writing_ = true;
  return s;
}

void instance_queue::persisted(const instance& next) {
  rec_ = next;
  writing_ = false;
}

std::vector<job> instance_queue::drain() {
  std::vector<job> out(std::make_move_iterator(jobs_.begin()),
                       std::make_move_iterator(jobs_.end()));
  jobs_.clear();
  return out;
}

} // namespace mycelium::services
