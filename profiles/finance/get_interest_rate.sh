#!/bin/sh
# get_interest_rate: the ECB main refinancing operations rate at the end of a year.
#
# A function tool of profiles/finance.json. Reads the call's arguments as JSON
# on stdin, {"year": "2023"} or {"date": "2023-06-01"}, and prints a JSON result:
#   {"year": "2023", "rate": "4.50%", "source": "ECB main refinancing operations rate at year end"}
# A year it has no rate for gives {"error": "..."} and exit status 0, so the
# model can tell the user. Input that is not a JSON object with a year or a
# date is a failed call: a message on stderr and exit status 2.

usage() {
    echo "get_interest_rate: expected a JSON object with \"year\" (e.g. {\"year\": \"2023\"}) or \"date\" (e.g. {\"date\": \"2023-06-01\"}) on stdin" >&2
    exit 2
}

# One line, without the surrounding blanks.
input=$(tr '\n\r\t' '   ' | sed 's/^ *//; s/ *$//')
case $input in
    '{'*'}') ;;
    *) usage ;;
esac

# "year": "2023" or "year": 2023
year=$(printf '%s\n' "$input" |
    sed -n 's/.*"year"[[:space:]]*:[[:space:]]*"\{0,1\}\([0-9][0-9][0-9][0-9]\)"\{0,1\}[[:space:]]*[,}].*/\1/p')
if [ -z "$year" ]; then
    # "date": "2023-06-01": the year-end rate of that year
    year=$(printf '%s\n' "$input" |
        sed -n 's/.*"date"[[:space:]]*:[[:space:]]*"\([0-9][0-9][0-9][0-9]\)-[0-9][0-9]-[0-9][0-9][^"]*".*/\1/p')
fi
[ -n "$year" ] || usage

# Main refinancing operations (fixed rate tenders) at 31 December.
case $year in
    2015) rate=0.05% ;;
    2016 | 2017 | 2018 | 2019 | 2020 | 2021) rate=0.00% ;;
    2022) rate=2.50% ;;
    2023) rate=4.50% ;;
    2024) rate=3.15% ;;
    2025) rate=2.15% ;;
    *)
        printf '{"error": "no ECB rate for %s: this function only knows the year-end rates from 2015 to 2025"}\n' "$year"
        exit 0
        ;;
esac
printf '{"year": "%s", "rate": "%s", "source": "ECB main refinancing operations rate at year end"}\n' "$year" "$rate"
