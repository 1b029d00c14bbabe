/* Output: human tables by default, JSON with --json */
#pragma once

#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kdbusctl {

/* A table of text cells printed with aligned columns under a header, the
 * way busctl and systemctl print lists. */
class Table {
public:
    explicit Table(std::vector<std::string> header);
    void add_row(std::vector<std::string> cells);
    void print(std::ostream& out) const;

private:
    std::vector<std::vector<std::string>> rows_;  // rows_[0] is the header
};

/* A JSON value as a table cell: strings bare, null as "-", the rest as
 * compact JSON. */
std::string cell(const nlohmann::json& value);

/* Pretty-printed JSON followed by a newline. */
void print_json(std::ostream& out, const nlohmann::json& value);

}  // namespace kdbusctl
