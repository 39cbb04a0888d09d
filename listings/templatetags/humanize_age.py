"""`{{ seconds|age }}`: a waiting time for people ("45 s", "12 min", "3 h 05 min", "2 d 4 h")."""
from django import template

register = template.Library()


@register.filter(name="age")
def age_text(seconds) -> str:
    """An age in seconds (int or float, negative read as 0) as short text."""
    seconds = int(max(float(seconds or 0), 0))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
