#!/bin/sh
# calculate_risk_score: an indicative credit risk score for a loan.
#
# A function tool of profiles/deal.json. Reads the call's arguments as JSON
# on stdin:
#   {"amount_eur": 2400000, "sector": "construction", "rating": "BB", "tenor_years": 5}
# amount_eur and tenor_years may also be strings ("2.4m", "2.4 million",
# "2,400,000", "5"). Prints a JSON result:
#   {"score": 63, "band": "high", "pd_1y": "1.0%", "drivers": "...", "recommendation": "..."}
# The score is 0 (no risk) to 99: points for the rating, the sector, the
# amount and the tenor. An unknown rating gives {"error": "..."} and exit
# status 0, so the model can tell the user. Input that is not a JSON object
# with the four arguments is a failed call: a message on stderr, status 2.

usage() {
    echo "calculate_risk_score: expected a JSON object with \"amount_eur\", \"sector\", \"rating\" and \"tenor_years\" on stdin, e.g. {\"amount_eur\": 2400000, \"sector\": \"construction\", \"rating\": \"BB\", \"tenor_years\": 5}" >&2
    exit 2
}

input=$(tr '\n\r\t' '   ' | sed 's/^ *//; s/ *$//')
case $input in
    '{'*'}') ;;
    *) usage ;;
esac

# The value of "KEY": a string without its quotes, or a number.
field() {
    printf '%s\n' "$input" |
        sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p; t; s/.*\"$1\"[[:space:]]*:[[:space:]]*\([0-9.]*\).*/\1/p"
}

amount=$(field amount_eur)
sector=$(field sector | tr 'A-Z' 'a-z')
rating=$(field rating | tr 'a-z' 'A-Z' | tr -d ' ')
tenor=$(field tenor_years | tr -cd '0-9.')
[ -n "$amount" ] && [ -n "$sector" ] && [ -n "$rating" ] && [ -n "$tenor" ] || usage

# "2.4m", "2.4 million", "2,400,000", "750k" -> euros
amount=$(printf '%s\n' "$amount" | tr 'A-Z' 'a-z' | tr -d ' ,' | awk '
    /^[0-9.]+(m|mio|million|millions)$/ { sub(/[a-z]+$/, ""); printf "%.0f\n", $0 * 1000000; next }
    /^[0-9.]+(k|thousand)$/ { sub(/[a-z]+$/, ""); printf "%.0f\n", $0 * 1000; next }
    /^[0-9.]+$/ { printf "%.0f\n", $0; next }')
[ -n "$amount" ] || usage

case $rating in
    AAA*) points=5 pd=0.01% ;;
    AA*) points=10 pd=0.02% ;;
    A*) points=18 pd=0.05% ;;
    BBB*) points=30 pd=0.2% ;;
    BB*) points=45 pd=1.0% ;;
    B*) points=60 pd=4.0% ;;
    CCC* | CC* | C*) points=80 pd=25% ;;
    *)
        printf '{"error": "unknown rating \\"%s\\": expected a rating from AAA to C"}\n' "$rating"
        exit 0
        ;;
esac
# BBB and BB must not fall into B*, nor AA into A*: the order above does it.

case $sector in
    construction | hospitality) sector_points=10 ;;
    retail) sector_points=8 ;;
    agriculture) sector_points=6 ;;
    manufacturing | logistics) sector_points=4 ;;
    energy) sector_points=3 ;;
    software) sector_points=2 ;;
    healthcare | utilities) sector_points=0 ;;
    *) sector_points=5 ;;
esac

awk -v amount="$amount" -v tenor="$tenor" -v rp="$points" -v rating="$rating" -v sp="$sector_points" \
    -v sector="$sector" -v pd="$pd" 'BEGIN {
    ap = amount > 5000000 ? 8 : amount > 1000000 ? 4 : 0
    tp = tenor > 3 ? int((tenor - 3) * 2 + 0.5) : 0
    score = rp + sp + ap + tp
    if (score > 99) score = 99
    band = score < 30 ? "low" : score < 60 ? "medium" : score < 80 ? "high" : "very high"
    rec = score < 30 ? "approve" : score < 60 ? "approve with covenants and collateral" : \
          score < 80 ? "refer to the credit committee" : "decline"
    drivers = sprintf("rating %s (+%d), %s sector (+%d)", rating, rp, sector, sp)
    if (ap) drivers = drivers sprintf(", amount over %s EUR (+%d)", ap == 8 ? "5M" : "1M", ap)
    if (tp) drivers = drivers sprintf(", tenor %g years (+%d)", tenor, tp)
    printf "{\"score\": %d, \"band\": \"%s\", \"pd_1y\": \"%s\", \"drivers\": \"%s\", \"recommendation\": \"%s\"}\n",
           score, band, pd, drivers, rec
}'
