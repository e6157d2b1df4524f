/* MCP tools as function tools, and their results as text (MCP.md §2, §7). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xalloc.h"
#include "tools/mcp.h"

/* The APIs' limit on a function name. */
#define NAME_MAX_LEN 64

static void append_sanitized(struct buf *b, const char *s)
{
    for (; *s; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        buf_putc(b, ok ? c : '_');
    }
}

/* 32-bit FNV-1a of server, a NUL, and tool. */
static uint32_t pair_hash(const char *server, const char *tool)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *s = (const unsigned char *)server; *s; s++)
        h = (h ^ *s) * 16777619u;
    h = (h ^ 0) * 16777619u;
    for (const unsigned char *s = (const unsigned char *)tool; *s; s++)
        h = (h ^ *s) * 16777619u;
    return h;
}

char *mcp_function_name(const char *server, const char *tool, bool hashed)
{
    struct buf b = BUF_INIT;
    char suffix[16];

    append_sanitized(&b, server);
    buf_puts(&b, "__");
    append_sanitized(&b, tool);
    if (!hashed && b.len <= NAME_MAX_LEN)
        return buf_steal(&b);
    snprintf(suffix, sizeof suffix, "_%08x", (unsigned)pair_hash(server, tool));
    if (b.len > NAME_MAX_LEN - strlen(suffix)) {
        b.len = NAME_MAX_LEN - strlen(suffix);
        b.data[b.len] = '\0';
    }
    buf_puts(&b, suffix);
    return buf_steal(&b);
}

cJSON *mcp_function_tool(const char *function_name, const cJSON *tool)
{
    const cJSON *description = cJSON_GetObjectItemCaseSensitive(tool, "description");
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(tool, "title");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(tool, "inputSchema");
    cJSON *out = cJSON_CreateObject();
    cJSON *fn, *parameters;

    cJSON_AddStringToObject(out, "type", "function");
    fn = cJSON_AddObjectToObject(out, "function");
    cJSON_AddStringToObject(fn, "name", function_name);
    cJSON_AddStringToObject(fn, "description",
                            cJSON_IsString(description) ? description->valuestring
                            : cJSON_IsString(title)     ? title->valuestring
                                                        : "");
    parameters = cJSON_IsObject(schema) ? cJSON_Duplicate(schema, 1) : cJSON_CreateObject();
    /* The dialect marker is noise to a model; type and properties are what
     * the function-calling APIs expect of every schema. */
    cJSON_DeleteItemFromObjectCaseSensitive(parameters, "$schema");
    if (cJSON_GetObjectItemCaseSensitive(parameters, "type"))
        cJSON_ReplaceItemInObjectCaseSensitive(parameters, "type", cJSON_CreateString("object"));
    else
        cJSON_AddStringToObject(parameters, "type", "object");
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(parameters, "properties"))) {
        cJSON_DeleteItemFromObjectCaseSensitive(parameters, "properties");
        cJSON_AddItemToObject(parameters, "properties", cJSON_CreateObject());
    }
    cJSON_AddItemToObject(fn, "parameters", parameters);
    return out;
}

static const char *str_field(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The size in bytes that base64 text decodes to. */
static size_t base64_size(const char *data)
{
    size_t n = data ? strlen(data) : 0, pad = 0;
    while (n > pad && data[n - 1 - pad] == '=')
        pad++;
    return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) - (n % 4 ? 0 : pad);
}

static void describe_resource(struct buf *out, const cJSON *resource)
{
    const char *uri = str_field(resource, "uri"), *mime = str_field(resource, "mimeType");
    const char *text = str_field(resource, "text"), *blob = str_field(resource, "blob");

    if (text) {
        buf_printf(out, "[resource %s%s%s]\n%s", uri ? uri : "", mime ? ", " : "", mime ? mime : "", text);
        return;
    }
    buf_printf(out, "[resource %s%s%s: %zu bytes of binary data, not shown]", uri ? uri : "", mime ? ", " : "",
               mime ? mime : "", base64_size(blob));
}

static void describe_block(struct buf *out, const cJSON *block)
{
    const char *type = str_field(block, "type");

    if (type && strcmp(type, "text") == 0) {
        buf_puts(out, str_field(block, "text") ? str_field(block, "text") : "");
    } else if (type && (strcmp(type, "image") == 0 || strcmp(type, "audio") == 0)) {
        const char *mime = str_field(block, "mimeType");
        buf_printf(out, "[%s%s%s: %zu bytes, not shown]", type, mime ? " " : "", mime ? mime : "",
                   base64_size(str_field(block, "data")));
    } else if (type && strcmp(type, "resource_link") == 0) {
        const char *name = str_field(block, "name"), *uri = str_field(block, "uri");
        const char *mime = str_field(block, "mimeType"), *description = str_field(block, "description");
        buf_printf(out, "[resource link: %s <%s>%s%s%s%s%s]", name ? name : "", uri ? uri : "", mime ? " (" : "",
                   mime ? mime : "", mime ? ")" : "", description ? ": " : "", description ? description : "");
    } else if (type && strcmp(type, "resource") == 0) {
        describe_resource(out, cJSON_GetObjectItemCaseSensitive(block, "resource"));
    } else {
        buf_printf(out, "[content of type %s, not shown]", type ? type : "(none)");
    }
}

/* Whether some text block of content holds value as JSON. */
static bool text_carries(const cJSON *content, const cJSON *value)
{
    const cJSON *block;

    cJSON_ArrayForEach(block, content) {
        const char *text = str_field(block, "text");
        cJSON *parsed = text ? cJSON_Parse(text) : NULL;
        bool same = parsed && cJSON_Compare(parsed, value, true);
        cJSON_Delete(parsed);
        if (same)
            return true;
    }
    return false;
}

char *mcp_result_text(const cJSON *result)
{
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(result, "content");
    const cJSON *structured = cJSON_GetObjectItemCaseSensitive(result, "structuredContent");
    const cJSON *block;
    struct buf out = BUF_INIT;

    buf_puts(&out, "");
    cJSON_ArrayForEach(block, content) {
        if (out.len)
            buf_putc(&out, '\n');
        describe_block(&out, block);
    }
    if (structured && !cJSON_IsNull(structured) && !text_carries(content, structured)) {
        char *json = cJSON_PrintUnformatted(structured);
        if (out.len)
            buf_putc(&out, '\n');
        buf_puts(&out, json ? json : "");
        cJSON_free(json);
    }
    return buf_steal(&out);
}
