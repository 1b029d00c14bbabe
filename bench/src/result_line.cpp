#include "result_line.hpp"

#include <cctype>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace kdbus_bench {

namespace {
std::string g_scenario = "?";
std::string g_bus = "bus";
}  // namespace

std::string token(std::string_view text) {
    std::string t(text);
    for (char &c : t)
        if (std::isspace(static_cast<unsigned char>(c)) || c == '=') c = '_';
    return t.empty() ? "-" : t;
}

ResultLine::ResultLine(std::string_view scenario, std::string_view bus) {
    text_ = "scenario=" + token(scenario) + " bus=" + token(bus);
}

ResultLine &ResultLine::add(std::string_view key, double value, int decimals) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.*f", decimals, value);
    return add_text(key, buf);
}

ResultLine &ResultLine::add_text(std::string_view key, std::string_view value) {
    text_ += ' ';
    text_ += key;
    text_ += '=';
    text_ += token(value);
    return *this;
}

int ResultLine::print_ok() {
    printf("%s ok=1\n", text_.c_str());
    fflush(stdout);
    return 0;
}

int ResultLine::print_failed(std::string_view why) {
    printf("%s ok=0 error=%s\n", text_.c_str(), token(why).c_str());
    fflush(stdout);
    return 1;
}

void set_run_identity(std::string_view scenario, std::string_view bus) {
    g_scenario = scenario;
    g_bus = bus;
}

void fail(const char *fmt, ...) {
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    ResultLine(g_scenario, g_bus).print_failed(why);
    exit(1);
}

}  // namespace kdbus_bench
