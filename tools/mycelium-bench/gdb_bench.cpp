#include "gdb_bench.hpp"

#include "common.hpp"

#include "mycelium/json/json.hpp"
#include "mycelium/core/prng.hpp"
#include "mycelium/gdb/database_core.hpp"
#include "mycelium/gdb/merkle.hpp"
#include "mycelium/store/database.hpp"
#include "mycelium/store/state_store.hpp"

#include <chrono>
#include <cstdio>
#include <deque>
#include <iostream>
#include <map>
#include <unistd.h>

namespace mycelium::bench {

namespace {

using clock_type = std::chrono::steady_clock;
using namespace mycelium::gdb;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

crdt_value lww(std::string v, int64_t at, const std::string& by) {
  crdt_value x;
  x.lww = lww_register::write(std::move(v), {at, 0}, by);
  return x;
}

} // namespace

int run_gdb(bool as_json, int keys) {
  // (a) Merge throughput: apply N single-key deltas (as replicas receive
  // them), next to inserting the same keys and values into a std::map.
  std::vector<or_map> deltas;
  or_map source;
  for (int i = 0; i < keys; ++i)
    deltas.push_back(source.update("w", "key-" + std::to_string(i),
                                   lww("value-" + std::to_string(i), i, "w")));
  auto t0 = clock_type::now();
  or_map replica;
  for (auto& d : deltas)
    replica.merge(d);
  auto merge_s = seconds_since(t0);
  t0 = clock_type::now();
  std::map<std::string, std::string> plain;
  for (int i = 0; i < keys; ++i)
    plain["key-" + std::to_string(i)] = "value-" + std::to_string(i);
  auto plain_s = seconds_since(t0);
  json merge{{"scenario", "merge"},
             {"operations", keys},
             {"ops_per_s", keys / merge_s},
             {"baseline", "std::map insert of the same keys and values"},
             {"baseline_ops_per_s", keys / plain_s},
             {"ratio", plain_s / merge_s}};

  // (b) Reconciliation after a heal: both replicas share `keys` keys, then
  // 1% diverge (updates on both sides, removes, new keys).
  or_map a = replica;
  or_map b = replica;
  prng rng{1};
  auto diverged = std::max(1, keys / 100);
  for (int i = 0; i < diverged; ++i) {
    auto k =
        "key-" + std::to_string(rng.next_below(static_cast<uint64_t>(keys)));
    switch (i % 4) {
    case 0:
      a.update("a", k, lww("a", keys + i, "a"));
      break;
    case 1:
      b.update("b", k, lww("b", keys + i, "b"));
      break;
    case 2:
      a.remove(k);
      break;
    default:
      b.update("b", "new-" + std::to_string(i), lww("n", keys + i, "b"));
    }
  }
  t0 = clock_type::now();
  std::deque<std::pair<bool, std::string>> q;
  q.emplace_back(true, encode(start_sync(a)));
  uint64_t bytes = 0;
  int messages = 0;
  int rounds = 0;
  while (!q.empty()) {
    ++rounds;
    std::deque<std::pair<bool, std::string>> next;
    for (auto& [to_b, wire] : q) {
      bytes += wire.size();
      ++messages;
      auto msg = decode(wire);
      if (!msg) {
        std::cerr << "mycelium-bench: " << msg.err().to_string() << "\n";
        return 1;
      }
      for (auto& answer : on_sync(to_b ? b : a, *msg))
        next.emplace_back(!to_b, encode(answer));
    }
    q = std::move(next);
  }
  auto reconcile_s = seconds_since(t0);
  if (!(a.entries == b.entries)) {
    std::cerr << "mycelium-bench: replicas differ after reconciliation\n";
    return 1;
  }
  // Baseline: each side ships its whole state to the other and merges.
  t0 = clock_type::now();
  uint64_t baseline_bytes = 0;
  for (auto* side : {&a, &b}) {
    sync_message full;
    full.kind = sync_message::type::entries_final;
    for (auto& [k, e] : side->entries)
      full.entries.emplace_back(k, e);
    auto wire = encode(full);
    baseline_bytes += wire.size();
    auto msg = decode(wire);
    or_map copy = *side;
    on_sync(copy, *msg);
  }
  auto baseline_s = seconds_since(t0);
  json reconcile{{"scenario", "reconciliation"},
                 {"keys", keys},
                 {"diverged_keys", diverged},
                 {"bytes", bytes},
                 {"messages", messages},
                 {"rounds", rounds},
                 {"converge_ms", reconcile_s * 1000},
                 {"baseline", "ship the full state both ways"},
                 {"baseline_bytes", baseline_bytes},
                 {"baseline_ms", baseline_s * 1000},
                 {"ratio", static_cast<double>(bytes) /
                               static_cast<double>(baseline_bytes)},
                 {"target", "ratio <= 0.05"},
                 {"note", "in-process: encode, decode and merge of every "
                          "message; no network"}};
  // (c) Write latency with persist-before-acknowledge: the actor's path
  // (validate, merge, encode the entry, one SQLite transaction) next to a
  // plain SQLite insert of the same bytes, same database settings (WAL,
  // synchronous=FULL), same run.
  char dir_template[] = "/tmp/mycelium-bench-gdb-XXXXXX";
  std::string dir = ::mkdtemp(dir_template);
  auto db = store::database::open(dir + "/bench.db", {});
  if (!db) {
    std::cerr << "mycelium-bench: " << db.err().to_string() << "\n";
    return 1;
  }
  auto states = store::state_store::open(*db);
  if (!states ||
      !(*db)->exec("CREATE TABLE plain (k TEXT PRIMARY KEY, v BLOB)")) {
    std::cerr << "mycelium-bench: cannot prepare the bench database\n";
    return 1;
  }
  gdb::database_core core{"bench", {}};
  auto writes = std::min(keys, 2000);
  std::vector<double> ours_us;
  std::vector<double> plain_us;
  for (int i = 0; i < writes; ++i) {
    auto key = "user/" + std::to_string(i);
    auto value = std::string(100, static_cast<char>('a' + i % 26));
    auto w0 = clock_type::now();
    auto delta = core.put(key, value, crdt_value::type::lww, 1700000000000 + i);
    auto saved =
        delta
            ? states->save_many(
                  "gdb", {{key, encode_entry(key, core.map().entries.at(key))}})
            : status{delta.err()};
    ours_us.push_back(seconds_since(w0) * 1e6);
    if (!saved) {
      std::cerr << "mycelium-bench: " << saved.err().to_string() << "\n";
      return 1;
    }
    auto bytes = encode_entry(key, core.map().entries.at(key));
    w0 = clock_type::now();
    auto st = (*db)->with_transaction([&](store::transaction& tx) -> status {
      auto stmt =
          tx.prepare("INSERT OR REPLACE INTO plain(k, v) VALUES (?1, ?2)");
      if (!stmt)
        return stmt.err();
      stmt->bind(1, key).bind_blob(2, bytes.data(), bytes.size());
      return stmt->run();
    });
    plain_us.push_back(seconds_since(w0) * 1e6);
    if (!st) {
      std::cerr << "mycelium-bench: " << st.err().to_string() << "\n";
      return 1;
    }
  }
  std::system(("rm -rf '" + dir + "'").c_str());
  json latency{{"scenario", "write_latency"},
               {"writes", writes},
               {"p50_us", percentile(ours_us, 0.5)},
               {"p99_us", percentile(ours_us, 0.99)},
               {"baseline", "plain SQLite insert of the same bytes, same "
                            "durability (WAL, synchronous=FULL)"},
               {"baseline_p50_us", percentile(plain_us, 0.5)},
               {"baseline_p99_us", percentile(plain_us, 0.99)},
               {"ratio", percentile(ours_us, 0.5) / percentile(plain_us, 0.5)},
               {"note", "in process, without the actor and console hops"}};
  if (as_json) {
    std::cout << merge.dump() << "\n"
              << reconcile.dump() << "\n"
              << latency.dump() << "\n";
  } else {
    std::printf("gdb merge: %.0f deltas/s (std::map insert %.0f/s)\n",
                keys / merge_s, keys / plain_s);
    std::printf("gdb reconciliation: %d keys, %d diverged: %llu bytes in %d "
                "messages, %d rounds, %.0f ms; full state both ways %llu "
                "bytes; ratio %.4f\n",
                keys, diverged, static_cast<unsigned long long>(bytes),
                messages, rounds, reconcile_s * 1000,
                static_cast<unsigned long long>(baseline_bytes),
                static_cast<double>(bytes) /
                    static_cast<double>(baseline_bytes));
    std::printf("gdb write latency (persist before ack): p50 %.0f us, p99 %.0f "
                "us; plain SQLite insert p50 %.0f us, p99 %.0f us\n",
                percentile(ours_us, 0.5), percentile(ours_us, 0.99),
                percentile(plain_us, 0.5), percentile(plain_us, 0.99));
  }
  return 0;
}

} // namespace mycelium::bench
