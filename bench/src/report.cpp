// report: the table run.sh prints, from the raw result lines of one run.
//
// Every line carries placement=, case=, rep= (added by run.sh) and the
// scenario's own keys. A cell is the median over the repetitions, the spread
// ±(max-min)/2 in % of it, and, for every bus but dbus-broker, the median of
// the per-repetition ratios to dbus-broker: the buses run interleaved within a
// repetition, so a ratio compares figures taken under the same machine noise.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "scenarios.hpp"

namespace kdbus_bench {

namespace {

constexpr const char *kBaseline = "dbus-broker";

struct Metric {
    const char *key;
    const char *label;
};

std::vector<Metric> metrics_of(const std::string &scenario) {
    const Metric cpu{"daemon_cpu_us_per_op", "daemon CPU µs/op ↓"};
    if (scenario == "rtt") return {{"calls_per_s", "calls/s ↑"}, {"p50_us", "p50 µs ↓"}, {"p99_us", "p99 µs ↓"}, cpu};
    if (scenario == "par") return {{"calls_per_s", "calls/s ↑"}, {"client_min_calls_per_s", "slowest client calls/s ↑"}, cpu};
    if (scenario == "signal") return {{"signals_per_s", "delivered signals/s ↑"}, {"daemon_cpu_us_per_op", "daemon CPU µs/delivery ↓"}};
    if (scenario == "matches") return {{"signals_per_s", "signals/s ↑"}, {"daemon_cpu_us_per_op", "daemon CPU µs/signal ↓"}};
    if (scenario == "payload") return {{"mb_per_s", "MB/s ↑"}, {"p50_us", "p50 µs ↓"}, cpu};
    if (scenario == "connect") return {{"connects_per_s", "connects/s ↑"}, {"p99_us", "p99 µs ↓"}, cpu};
    if (scenario == "metadata")
        return {{"none_calls_per_s", "calls/s, no mask set ↑"},
                {"recv0_calls_ratio", "calls/s with recv mask 0 ÷ no mask ↑"},
                {"attach_calls_ratio", "calls/s with CREDS|PIDS|TIMESTAMP ÷ no mask ↑"},
                {"none_cpu_us_per_call", "daemon CPU µs/call, no mask ↓"},
                {"recv0_cpu_ratio", "daemon CPU/call with recv mask 0 ÷ no mask ↓"},
                {"attach_cpu_ratio", "daemon CPU/call with CREDS|PIDS|TIMESTAMP ÷ no mask ↓"}};
    if (scenario == "idle") return {{"per_conn_kib", "RSS KiB per idle connection ↓"}, {"rss_before_kib", "RSS KiB at start ↓"}};
    return {};
}

using Fields = std::map<std::string, std::string>;

Fields parse_line(const std::string &line) {
    Fields f;
    std::istringstream in(line);
    std::string word;
    while (in >> word) {
        size_t eq = word.find('=');
        if (eq != std::string::npos) f[word.substr(0, eq)] = word.substr(eq + 1);
    }
    return f;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string number(double v) {
    char buf[32];
    double a = std::fabs(v);
    snprintf(buf, sizeof buf, a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : "%.2f", v);
    return buf;
}

struct Row {  // one (placement, case)
    std::string scenario;
    // bus -> rep -> fields of an ok line
    std::map<std::string, std::map<std::string, Fields>> ok;
    std::map<std::string, int> failed;  // bus -> failed runs
};

std::optional<double> value(const Fields &f, const std::string &key) {
    auto it = f.find(key);
    if (it == f.end()) return std::nullopt;
    try {
        return std::stod(it->second);
    } catch (...) {
        return std::nullopt;
    }
}

std::string cell(const Row &row, const std::string &bus, const Metric &m) {
    auto fails = row.failed.find(bus);
    std::string suffix = fails != row.failed.end() ? " +" + std::to_string(fails->second) + " ERR" : "";
    auto runs = row.ok.find(bus);
    if (runs == row.ok.end()) return fails != row.failed.end() ? "ERR" : "—";
    std::vector<double> values, ratios;
    auto base = row.ok.find(kBaseline);
    for (const auto &[rep, fields] : runs->second) {
        auto v = value(fields, m.key);
        if (!v) continue;
        values.push_back(*v);
        if (base == row.ok.end() || bus == kBaseline) continue;
        auto b = base->second.find(rep);
        if (b == base->second.end()) continue;
        auto bv = value(b->second, m.key);
        if (bv && *bv != 0) ratios.push_back(*v / *bv);
    }
    if (values.empty()) return "—" + suffix;
    double med = median(values);
    auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    std::string text = number(med);
    if (med != 0) text += " ±" + std::to_string(int(std::lround(50 * (*hi - *lo) / std::fabs(med)))) + "%";
    if (values.size() < 3) text += " n=" + std::to_string(values.size());
    if (!ratios.empty()) {
        char r[32];
        snprintf(r, sizeof r, " (%.2f×)", median(ratios));
        text += r;
    }
    return text + suffix;
}

}  // namespace

int run_report(const Options &options) {
    if (options.files.empty()) {
        fprintf(stderr, "report needs a raw result file\n");
        return 2;
    }
    std::vector<std::string> order;  // placement|case, first appearance
    std::map<std::string, Row> rows;
    std::vector<std::string> buses;
    for (const std::string &file : options.files) {
        std::ifstream in(file);
        if (!in) {
            fprintf(stderr, "report: cannot read %s\n", file.c_str());
            return 2;
        }
        std::string line;
        while (std::getline(in, line)) {
            Fields f = parse_line(line);
            if (!f.count("case") || !f.count("bus")) continue;
            std::string key = f["placement"] + "|" + f["case"];
            if (!rows.count(key)) order.push_back(key);
            Row &row = rows[key];
            if (f.count("scenario") && f["scenario"] != "?") row.scenario = f["scenario"];
            const std::string &bus = f["bus"];
            if (std::find(buses.begin(), buses.end(), bus) == buses.end()) buses.push_back(bus);
            if (f["ok"] == "1") row.ok[bus][f["rep"]] = f;
            else ++row.failed[bus];
        }
    }
    // dbus-broker first: it is what the ratios are relative to.
    const std::vector<std::string> preferred = {kBaseline, "dbus-daemon", "kdbusd", "p2p"};
    std::vector<std::string> columns;
    for (const auto &b : preferred)
        if (std::find(buses.begin(), buses.end(), b) != buses.end()) columns.push_back(b);
    for (const auto &b : buses)
        if (std::find(columns.begin(), columns.end(), b) == columns.end()) columns.push_back(b);

    printf("| placement | case | metric |");
    for (const auto &c : columns) printf(" %s |", c.c_str());
    printf("\n|---|---|---|");
    for (size_t i = 0; i < columns.size(); ++i) printf("---|");
    printf("\n");
    int failures = 0;
    for (const std::string &key : order) {
        const Row &row = rows[key];
        for (const auto &[bus, n] : row.failed) failures += n;
        std::string placement = key.substr(0, key.find('|')), name = key.substr(key.find('|') + 1);
        for (const Metric &m : metrics_of(row.scenario)) {
            printf("| %s | %s | %s |", placement.c_str(), name.c_str(), m.label);
            for (const auto &c : columns) printf(" %s |", cell(row, c, m).c_str());
            printf("\n");
        }
        if (metrics_of(row.scenario).empty()) {
            printf("| %s | %s | (failed) |", placement.c_str(), name.c_str());
            for (const auto &c : columns) printf(" %s |", cell(row, c, {"-", ""}).c_str());
            printf("\n");
        }
    }
    return failures ? 1 : 0;
}

}  // namespace kdbus_bench
