"""A small labelled retrieval set for testing rerankers, in the style of a tiny BEIR dataset.

`DOCUMENTS` holds 152 short factual passages on varied topics (cooking, astronomy, programming, medicine, sports,
history, geography, finance, gardening, music, law, biology, cars, weather and a few others). `QUERIES` holds
95 queries phrased the way people type them, some as questions and some as keywords, each with graded
relevance judgements: 2 means the document answers the query directly, 1 that it is on topic and partly useful;
every document not listed counts as 0.

How it was made: written by hand for these tests, not downloaded, generated or tuned against any model or
method, and fixed (change it only on purpose: scores measured on it would move). The relevant passages often
word the answer differently from the query, and many queries have hard negatives: passages on the same topic or
sharing the query's words that do not answer it (noted in a comment beside the query). Judgements were made
by meaning, not by word overlap.

`validate()` checks the set's invariants and runs on import; `ndcg_at()` scores one ranking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Query:
    """A query and its judged documents: index into `DOCUMENTS` -> grade (2 answers it, 1 partly useful)."""

    text: str
    relevant: dict[int, int]


DOCUMENTS: tuple[str, ...] = (
    # cooking: 0-11
    "For fluffy long-grain white rice, use roughly one and a half cups of water for every cup of grain, then simmer "
    "it covered for about eighteen minutes.",
    "Rinsing rice under cold water before cooking washes away loose surface starch, which keeps the grains from "
    "clumping into a gluey mass.",
    "Pasta water should taste clearly salty; about a tablespoon of salt for every four litres seasons the noodles "
    "from the inside as they cook.",
    "The brown, savoury crust on seared meat comes from the Maillard reaction between amino acids and sugars, which "
    "speeds up above roughly 140 °C.",
    "Letting a roast sit for ten to fifteen minutes after it leaves the oven gives the juices time to settle, so less "
    "liquid runs onto the board when it is carved.",
    "Yeast feeds on the sugars in dough and releases carbon dioxide; the gas is trapped by the gluten network, which "
    "is what makes a loaf swell.",
    "A sourdough starter is a paste of flour and water colonised by wild yeasts and lactic acid bacteria, and it has "
    "to be fed regularly to stay lively.",
    "In baking, a tablespoon of ground flaxseed stirred into three tablespoons of water and left to thicken can stand "
    "in for one egg as a binder.",
    "A sharp knife is safer than a blunt one because it needs less force and is less likely to skid off the food and "
    "into a finger.",
    "Slicing an onion ruptures its cells and releases a volatile sulfur compound that irritates the eyes; chilling "
    "the bulb beforehand slows that reaction.",
    "A hard avocado softens faster when shut in a paper bag with a banana, because the banana gives off ethylene, a "
    "gas that triggers ripening.",
    "Refined peanut and avocado oils tolerate high frying temperatures, whereas extra virgin olive oil begins to "
    "smoke at a noticeably lower temperature.",
    # astronomy: 12-23
    "Mercury, the planet closest to the Sun, completes one orbit in about 88 Earth days.",
    "Venus has the highest surface temperature of any planet, around 465 °C, because its dense carbon dioxide "
    "atmosphere traps heat in a runaway greenhouse effect.",
    "Mars owes its rusty colour to iron minerals in its dust and rocks that have oxidised over billions of years.",
    "Jupiter is the largest planet, and its Great Red Spot is a storm wider than Earth that has been watched "
    "continuously for well over 150 years.",
    "A light-year is a measure of distance rather than time: it is how far light travels in one year, about 9.46 "
    "trillion kilometres.",
    "Apart from the Sun, the nearest star to us is Proxima Centauri, a faint red dwarf roughly 4.2 light-years away.",
    "The Moon appears to wax and wane because, as it orbits Earth, we see changing portions of its sunlit half; "
    "Earth's shadow plays no part.",
    "A lunar eclipse happens when Earth lines up directly between the Sun and the Moon, so that Earth's shadow falls "
    "across the full Moon.",
    "A black hole forms when the core of a very massive star collapses so far that nothing, not even light, can "
    "escape from inside its event horizon.",
    "Earth's axis is tilted by about 23.4 degrees, so for part of each year one hemisphere leans toward the Sun and "
    "receives more direct sunlight and longer days.",
    "In 2006 the International Astronomical Union reclassified Pluto as a dwarf planet because it has not cleared "
    "other objects from its orbital neighbourhood.",
    "The International Space Station circles Earth about every 90 minutes at an altitude of roughly 400 kilometres.",
    # programming: 24-35
    "CPython's global interpreter lock allows only one thread to execute Python bytecode at a time, so CPU-heavy "
    "threads do not run in parallel; separate processes avoid the limit.",
    "Python lists are mutable, while tuples cannot be changed after they are created; because they are hashable when "
    "their items are, tuples can serve as dictionary keys.",
    "git revert records a new commit that applies the inverse of an earlier one, leaving existing history untouched, "
    "which makes it the safe choice on branches others have pulled.",
    "git reset --hard moves the current branch to another commit and throws away uncommitted changes in the working "
    "tree.",
    "A database index makes lookups and sorting on a column much faster, at the cost of extra storage and slower "
    "inserts and updates.",
    "An inner join returns only rows that have matching keys in both tables, whereas a left join keeps every row from "
    "the left table and fills missing values with NULL.",
    "Binary search locates an item in a sorted array in logarithmic time by repeatedly halving the range that could "
    "still contain it.",
    "A hash table stores key-value pairs in buckets chosen by a hash function, so finding a key takes constant time "
    "on average.",
    "A recursive function calls itself on a smaller input and must have a base case; without one it keeps calling "
    "itself until the call stack runs out of space.",
    "Most decimal fractions, such as 0.1, have no exact binary representation, so adding 0.1 and 0.2 yields "
    "0.30000000000000004 in many programming languages.",
    "HTTP status 404 tells the client that the server has no resource at the requested address, while a 500 status "
    "signals a failure inside the server itself.",
    "In JavaScript the == operator converts types before comparing, so '1' == 1 is true, while === also requires both "
    "values to have the same type.",
    # medicine: 36-47
    "Antibiotics kill bacteria or stop them multiplying but do nothing against viruses, so they are no help for a "
    "common cold or the flu.",
    "Using antibiotics when they are not needed helps drug-resistant bacteria spread, making later infections harder "
    "to treat.",
    "A fever is usually a sign that the body is fighting an infection; in adults a temperature above 38 °C is "
    "generally considered a fever.",
    "Vaccines prepare the immune system by showing it a harmless piece or weakened form of a germ, so it can "
    "recognise and fight the real infection quickly later.",
    "Blood pressure is given as two figures: systolic pressure, measured while the heart contracts, over diastolic "
    "pressure, measured while it relaxes between beats.",
    "High blood pressure often causes no symptoms for years, yet it substantially raises the risk of stroke, heart "
    "attack and kidney disease.",
    "In type 1 diabetes the immune system destroys the pancreas cells that make insulin, so patients depend on "
    "insulin injections or a pump.",
    "Type 2 diabetes develops when the body's cells stop responding properly to insulin; losing weight and exercising "
    "can improve blood sugar control.",
    "Ibuprofen is a nonsteroidal anti-inflammatory drug that eases pain, fever and swelling, but it can irritate the "
    "stomach lining and cause ulcers.",
    "Paracetamol, known as acetaminophen in the US, relieves pain and fever but does little for inflammation, and "
    "taking too much can cause serious liver damage.",
    "Most adults need seven to nine hours of sleep a night; long-term shortage is linked to weaker immunity, poorer "
    "concentration and weight gain.",
    "Sudden drooping of one side of the face, weakness in one arm and slurred speech are classic signs of a stroke "
    "and call for an ambulance straight away.",
    # sports: 48-57
    "A football player is offside if, when a teammate plays the ball to them, they are in the opponents' half and "
    "nearer the goal line than both the ball and the second-last defender.",
    "The marathon's odd length of 42.195 kilometres dates from the 1908 London Olympics and was adopted as the "
    "official standard in 1921.",
    "In tennis a score of zero is called love, and the points within a game are counted as 15, 30 and 40 before the "
    "game is won.",
    "In cricket an over is a set of six legal deliveries bowled by one bowler from the same end of the pitch.",
    "In basketball a field goal scored from behind the three-point line is worth three points, a shot from inside it "
    "two, and a free throw one.",
    "In golf, par is the number of strokes a skilled player is expected to need for a hole; finishing one stroke "
    "under par is a birdie and two under is an eagle.",
    "During the Tour de France the overall leader wears the yellow jersey, while the green jersey goes to the rider "
    "with the most sprint points.",
    "The five interlocking Olympic rings stand for the five inhabited continents joined together by the Games.",
    "The FIFA World Cup is held every four years; the first tournament was staged in Uruguay in 1930, and the host "
    "nation won it.",
    "Competitive swimming uses four strokes, freestyle, backstroke, breaststroke and butterfly, and the individual "
    "medley races all four in one event.",
    # history: 58-68
    "Magna Carta, sealed by King John of England in 1215, limited the crown's powers and set out the principle that "
    "the monarch was not above the law.",
    "The Berlin Wall divided the city from 1961 until the night of 9 November 1989, when its checkpoints were opened; "
    "it was demolished over the following months.",
    "Apollo 11 touched down on 20 July 1969, and Neil Armstrong became the first person to set foot on the lunar "
    "surface.",
    "Around 1440 in Mainz, Johannes Gutenberg developed a press with movable metal type that made books far cheaper "
    "and helped spread literacy across Europe.",
    "The assassination of Archduke Franz Ferdinand in Sarajevo in June 1914 set off a chain of alliance obligations "
    "that drew Europe's great powers into the First World War.",
    "The Second World War ended in 1945, with Germany surrendering in May and Japan signing its formal surrender in "
    "September.",
    "The Western Roman Empire is conventionally said to have ended in 476 AD, when Odoacer deposed the young emperor "
    "Romulus Augustulus.",
    "The Great Pyramid of Giza was built for the pharaoh Khufu around 2560 BC and remained the tallest human-made "
    "structure for more than 3,800 years.",
    "The storming of the Bastille prison in Paris on 14 July 1789 is regarded as the opening act of the French "
    "Revolution.",
    "The Black Death swept across Europe between 1347 and 1351 and killed perhaps a third of the continent's "
    "population.",
    "In 1492 Christopher Columbus, sailing for the Spanish crown, reached islands in the Caribbean while looking for "
    "a westward route to Asia.",
    # geography: 69-79
    "Flowing north through eleven countries to the Mediterranean, the Nile is usually ranked first among the world's "
    "rivers for length, at about 6,650 kilometres.",
    "The Amazon discharges more water than any other river, roughly a fifth of all the fresh water that rivers "
    "deliver to the oceans.",
    "Mount Everest, on the border between Nepal and China, rises 8,849 metres above sea level, higher than any other "
    "peak.",
    "Measured from its base on the Pacific sea floor, Hawaii's Mauna Kea is more than 10,000 metres tall, although "
    "most of it lies under water.",
    "Canberra, not Sydney, is the seat of Australia's federal government; the city was purpose-built as a compromise "
    "between Sydney and Melbourne.",
    "Ottawa is the capital of Canada, although Toronto is the country's most populous city.",
    "The Sahara is the largest hot desert, covering much of North Africa, but Antarctica is the largest desert of all "
    "because it receives so little precipitation.",
    "The Dead Sea between Jordan and Israel lies more than 400 metres below sea level, and its water is so salty that "
    "bathers bob on the surface without effort.",
    "Lake Baikal in Siberia is the deepest lake on Earth, reaching about 1,640 metres, and holds around a fifth of "
    "the world's unfrozen surface fresh water.",
    "Vatican City, an enclave entirely surrounded by Rome, is the world's smallest independent state by both area and "
    "population.",
    "Russia is the largest country by area, stretching across eleven time zones from Eastern Europe to the Pacific.",
    # finance: 80-89
    "Compound interest is earned on the original deposit and on the interest already added to it, so savings grow "
    "faster the longer they are left alone.",
    "Inflation is a general rise in prices over time, which means the same amount of cash buys fewer goods each year.",
    "An index fund simply holds the companies in a market index such as the S&P 500 rather than picking stocks, which "
    "keeps its fees low.",
    "Spreading investments across many companies, industries and asset types limits the damage that any single "
    "failure can do to a portfolio.",
    "When interest rates rise, the market price of existing bonds falls, because newly issued bonds offer higher "
    "yields than the older ones.",
    "Paying every bill on time and keeping card balances well below their limits are the two biggest factors in a "
    "strong credit score.",
    "Financial planners commonly advise keeping three to six months of essential expenses in an easily accessible "
    "savings account for unexpected costs.",
    "A dividend is a share of a company's profit paid out to its shareholders, usually in cash and often every "
    "quarter.",
    "Central banks raise their policy interest rate to cool inflation, since dearer borrowing slows spending and "
    "demand across the economy.",
    "A loan's annual percentage rate includes fees as well as interest, so it gives a fuller picture of the yearly "
    "cost of borrowing than the interest rate alone.",
    # gardening: 90-99
    "Tomato plants need at least six to eight hours of direct sunlight a day to set a good crop of fruit.",
    "Dark, sunken, leathery patches at the base of tomato fruits, known as blossom end rot, result from a calcium "
    "shortage in the fruit, usually caused by irregular watering.",
    "A compost heap breaks down fastest with a mix of green material such as grass clippings and brown material such "
    "as dry leaves, kept damp and turned often.",
    "Watering early in the morning loses less water to evaporation and lets foliage dry during the day, which helps "
    "keep fungal diseases away.",
    "Blueberries grow best in acidic soil with a pH between about 4.5 and 5.5; in alkaline ground their leaves turn "
    "yellow and growth stalls.",
    "Bigleaf hydrangeas produce blue flowers in acidic soil, where they can take up aluminium, and pink flowers in "
    "neutral or alkaline soil.",
    "Most roses are pruned in late winter or early spring, as the buds begin to swell, with each cut made just above "
    "an outward-facing bud.",
    "Ladybirds and their larvae devour large numbers of aphids, so attracting them is a chemical-free way to keep "
    "greenfly in check.",
    "When a houseplant sits in soggy compost and its leaves yellow and droop, it is usually being overwatered and its "
    "roots are beginning to rot.",
    "Tender seedlings should be planted out only after the last expected frost, since a single cold night can kill "
    "them.",
    # music: 100-108
    "Two notes an octave apart share a letter name, and the higher one vibrates at exactly twice the frequency of the "
    "lower one.",
    "Orchestras usually tune to the A above middle C sounding at 440 hertz, the international standard concert pitch.",
    "A standard modern piano has 88 keys, 52 white and 36 black, covering just over seven octaves.",
    "Beethoven began losing his hearing in his late twenties and was almost totally deaf by the time he completed his "
    "Ninth Symphony in 1824.",
    "Italian tempo markings such as largo, andante and allegro tell performers how fast a piece should go, from very "
    "slow to brisk.",
    "In standard tuning the six strings of a guitar are tuned E, A, D, G, B and E, from the lowest to the highest.",
    "To most Western listeners major keys sound bright, while minor keys, built on a lowered third, tend to sound sad "
    "or tense.",
    "A 3/4 time signature means three quarter-note beats in every bar, the characteristic metre of the waltz.",
    "Wolfgang Amadeus Mozart wrote more than 600 works, including 41 numbered symphonies, before his death in 1791 at "
    "the age of 35.",
    # law: 109-117
    "Before questioning a suspect in custody, US police must state that the person may stay silent and may have a "
    "lawyer present; these statements are known as Miranda warnings.",
    "The rule against double jeopardy means a person who has been acquitted cannot be prosecuted again for the same "
    "offence.",
    "Copyright protects the expression of an idea, such as a novel or a song, not the idea itself; in many countries "
    "it lasts for the author's life plus 70 years.",
    "A patent gives an inventor exclusive rights to an invention, usually for 20 years from filing, in exchange for "
    "publicly disclosing how it works.",
    "A trademark protects a brand name, slogan or logo that identifies who makes a product, and it can last "
    "indefinitely as long as it is used and renewed.",
    "In many jurisdictions a landlord must return a tenant's security deposit within a fixed period after the tenancy "
    "ends, less itemised deductions for damage.",
    "A person who dies without a valid will is said to die intestate, and their estate is shared out according to a "
    "fixed order of relatives set by law.",
    "Small claims courts resolve disputes over modest sums of money with simplified procedures, and parties often "
    "represent themselves without a lawyer.",
    "In a criminal trial the prosecution must prove guilt beyond reasonable doubt, a stricter standard than the "
    "balance of probabilities used in civil cases.",
    # biology: 118-128
    "Plants use photosynthesis to turn carbon dioxide and water into glucose and oxygen, powered by sunlight absorbed "
    "by chlorophyll.",
    "Mitochondria generate most of a cell's usable energy, in the form of ATP, through cellular respiration.",
    "DNA is a double helix whose two strands are held together by base pairs: adenine with thymine and cytosine with "
    "guanine.",
    "In autumn trees stop making green chlorophyll, and as it breaks down the yellow and orange carotenoid pigments "
    "already in the leaves become visible.",
    "An octopus has three hearts and blue blood, which carries oxygen using a copper-based protein instead of iron.",
    "Tardigrades can survive extreme dehydration, freezing and even exposure to outer space by drying out into a "
    "dormant state.",
    "A honeybee returning from a good patch of flowers performs a waggle dance whose angle and length tell its "
    "nestmates the direction and distance to fly.",
    "Under natural selection, individuals with traits that suit their environment tend to leave more offspring, so "
    "those traits become more common over generations.",
    "Red blood cells carry oxygen bound to haemoglobin, and in humans they lose their nucleus as they mature, leaving "
    "more room for it.",
    "Whales are mammals: they breathe air through blowholes, are warm-blooded and feed their young on milk.",
    "Many bats hunt in darkness by echolocation, emitting high-pitched calls and judging the position of insects from "
    "the returning echoes.",
    # cars: 129-137
    "Most modern cars running on synthetic oil need fresh oil roughly every 8,000 to 16,000 kilometres, but the "
    "owner's manual gives the exact service interval.",
    "The correct inflation pressure for a car's tyres is printed on a sticker inside the driver's door frame; the "
    "figure moulded on the tyre sidewall is the maximum, not the target.",
    "A hybrid car pairs a petrol engine with an electric motor and recovers energy when braking, using it to recharge "
    "the battery.",
    "Anti-lock brakes rapidly pulse the brake pressure during an emergency stop so the wheels keep turning, which "
    "lets the driver still steer around an obstacle.",
    "A steady check-engine light means the car's computer has logged a fault, whereas a flashing one usually signals "
    "a severe misfire that can ruin the catalytic converter.",
    "Car batteries deliver less current in freezing weather because the chemical reactions inside them slow down, "
    "which is why engines crank sluggishly on winter mornings.",
    "An electric car's driving range drops in freezing weather, partly because energy goes into heating the cabin and "
    "the battery pack.",
    "Diesel engines ignite their fuel with the heat of compressed air rather than with a spark plug, which makes them "
    "efficient under heavy loads.",
    "Tyres should be replaced once the tread depth falls to about 1.6 millimetres, the legal minimum in many "
    "countries, because worn tread greatly lengthens stopping distances in the wet.",
    # weather: 138-147
    "Light travels far faster than sound, so lightning is seen before its thunder is heard; counting the seconds "
    "between them and dividing by three gives the distance in kilometres.",
    "A rainbow forms when sunlight is refracted, reflected and split into colours inside raindrops, which is why it "
    "always appears opposite the Sun.",
    "Hurricanes, typhoons and tropical cyclones are the same kind of storm; which name is used depends on the ocean "
    "basin where it forms.",
    "Humid air feels hotter than dry air at the same temperature because sweat evaporates more slowly, so the body "
    "sheds less heat.",
    "Air molecules scatter short blue wavelengths of sunlight much more strongly than longer red ones, which tints "
    "the daytime sky blue.",
    "Snowflakes usually have six arms because water molecules lock together in a hexagonal pattern as they freeze.",
    "Fog is cloud at ground level; it forms when moist air cools to its dew point, often on clear, calm nights.",
    "Hailstones grow inside thunderstorms as strong updrafts carry them repeatedly through layers of supercooled "
    "water droplets.",
    "Wind chill describes how cold it feels on exposed skin, because moving air carries body heat away faster than "
    "still air does.",
    "El Niño is a periodic warming of the central and eastern tropical Pacific that shifts rainfall and temperature "
    "patterns around the world.",
    # misc: 148-151
    "Leonardo da Vinci painted the Mona Lisa in the early sixteenth century, and the portrait now hangs in the Louvre "
    "in Paris.",
    "William Shakespeare wrote around 37 plays and 154 sonnets, and many of his plays were first staged at the Globe "
    "Theatre in London.",
    "The 5 GHz Wi-Fi band carries data faster than the 2.4 GHz band, but its signal passes through walls and floors "
    "less well, so range suffers.",
    "Vitamin C, found in citrus fruit, peppers and broccoli, is needed to make collagen, and a severe lack of it "
    "causes scurvy.",
)

QUERIES: tuple[Query, ...] = (
    Query("how much water do I need for a cup of rice", {0: 2}),  # hard negatives: 1, 2
    Query("why does my rice come out sticky and gummy", {1: 2, 0: 1}),
    Query("should you wait before carving a roast chicken", {4: 2}),  # hard negatives: 3, 8
    Query("what makes a steak go brown in the pan", {3: 2}),  # hard negatives: 11, 4
    Query("vegan substitute for eggs in muffins", {7: 2}),  # hard negatives: 5
    Query("how to stop crying when chopping onions", {9: 2}),  # hard negatives: 8
    Query("my avocados are rock hard, how do I ripen them quicker", {10: 2}),
    Query("how to cook rice properly", {0: 2, 1: 2}),  # hard negatives: 2
    Query("what makes dough rise", {5: 2, 6: 1}),
    Query("why is the red planet red", {14: 2}),  # hard negatives: 15, 17
    Query("how far away is the closest star", {17: 2, 16: 1}),  # hard negatives: 12
    Query("is a light year a unit of time", {16: 2}),
    Query("why does the moon change shape over the month", {18: 2}),  # hard negatives: 19
    Query("why is it warmer in summer than in winter", {21: 2}),  # hard negatives: 13
    Query("why is pluto no longer a planet", {22: 2}),
    Query("jupiter giant storm", {15: 2}),  # hard negatives: 14
    Query("hottest planet in the solar system", {13: 2}),  # hard negatives: 12
    Query("undo a commit that was already pushed without rewriting history", {26: 2}),  # hard negatives: 27
    Query("why does adding decimals in code give tiny rounding errors", {33: 2}),
    Query("python threads not using all cpu cores", {24: 2}),  # hard negatives: 25
    Query("difference between left join and inner join", {29: 2}),  # hard negatives: 28
    Query("website says page not found error code", {34: 2}),
    Query("my recursive function crashes with a stack overflow", {32: 2}),
    Query("can a list be used as a dictionary key in python", {25: 2, 31: 1}),
    Query("fastest way to find a value in a sorted list", {30: 2}),  # hard negatives: 31
    Query("will antibiotics help my cold", {36: 2, 37: 1}),  # hard negatives: 38
    Query("what do the two numbers in a blood pressure reading mean", {40: 2}),  # hard negatives: 41
    Query("which painkiller is hard on the liver", {45: 2}),  # hard negatives: 44
    Query("how does a jab stop you from catching a disease", {39: 2}),  # hard negatives: 36
    Query("how to tell if someone is having a stroke", {47: 2}),  # hard negatives: 41
    Query("difference between type 1 and type 2 diabetes", {42: 2, 43: 2}),
    Query("tennis score name for zero", {50: 2}),
    Query("offside rule explained", {48: 2}),  # hard negatives: 56
    Query("why is a marathon 26.2 miles", {49: 2}),
    Query("how many balls in an over", {51: 2}),  # hard negatives: 52
    Query("what is a birdie", {53: 2}),
    Query("where was the first football world cup played", {56: 2}),  # hard negatives: 48, 55
    Query("when did the berlin wall come down", {59: 2}),  # hard negatives: 63
    Query("what started world war one", {62: 2}),  # hard negatives: 63
    Query("who was the first man to walk on the moon", {60: 2}),  # hard negatives: 18, 19
    Query("who invented the printing press", {61: 2}),
    Query("how many people died in the medieval plague", {67: 2}),  # hard negatives: 64
    Query("charter that put the english king under the law", {58: 2}),
    Query("longest river on earth", {69: 2}),  # hard negatives: 70
    Query("tallest mountain in the world", {71: 2, 72: 1}),
    Query("capital city of australia", {73: 2}),  # hard negatives: 74
    Query("what is the biggest desert", {75: 2}),
    Query("lake so salty you float without swimming", {76: 2}),  # hard negatives: 77
    Query("smallest country in the world", {78: 2}),  # hard negatives: 79
    Query("why do bond prices drop when rates go up", {84: 2}),  # hard negatives: 88, 89
    Query("how much cash should I keep aside for a rainy day", {86: 2}),
    Query("why does money lose value over time", {81: 2, 88: 1}),  # hard negatives: 80
    Query("how can I improve my credit rating", {85: 2}),  # hard negatives: 89
    Query("don't put all your eggs in one basket investing", {83: 2, 82: 1}),  # hard negatives: 7
    Query("earning interest on your interest", {80: 2}),  # hard negatives: 84, 89
    Query("bottoms of my tomatoes are turning black", {91: 2}),  # hard negatives: 90
    Query("how do I make my hydrangeas blue", {95: 2, 94: 1}),
    Query("best time of day to water the garden", {93: 2}),  # hard negatives: 98
    Query("natural way to get rid of greenfly", {97: 2}),
    Query("when should I cut back my roses", {96: 2}),  # hard negatives: 99
    Query("houseplant leaves going yellow", {98: 2}),  # hard negatives: 94, 121
    Query("how many keys on a piano", {102: 2}),
    Query("which composer wrote music after going deaf", {103: 2}),  # hard negatives: 108
    Query("what note does an orchestra tune to", {101: 2}),  # hard negatives: 105
    Query("why do some songs sound sad", {106: 2}),  # hard negatives: 104
    Query("standard guitar tuning notes", {105: 2}),  # hard negatives: 101
    Query("rhythm of a waltz", {107: 2}),  # hard negatives: 104
    Query("how long does copyright last", {111: 2}),  # hard negatives: 112, 113
    Query("who inherits if there is no will", {115: 2}),
    Query("can you be tried twice for the same crime", {110: 2}),  # hard negatives: 117
    Query("do the police have to tell you that you can stay quiet", {109: 2}),
    Query("how do I legally protect my company logo", {113: 2}),  # hard negatives: 111, 112
    Query("ways to protect an invention or a brand", {112: 2, 113: 2, 111: 1}),
    Query("landlord won't give back my deposit", {114: 2, 116: 1}),
    Query("why do leaves change colour in the fall", {121: 2, 118: 1}),
    Query("powerhouse of the cell", {119: 2}),  # hard negatives: 126
    Query("how do bees tell each other where the flowers are", {124: 2}),
    Query("is a whale a fish", {127: 2}),
    Query("animal with three hearts", {122: 2}),
    Query("how do bats find food in the dark", {128: 2}),
    Query("what pressure should I pump my tires to", {130: 2}),  # hard negatives: 137
    Query("car won't start on cold mornings", {134: 2}),  # hard negatives: 135
    Query("does cold weather affect cars", {134: 2, 135: 2}),
    Query("blinking engine warning light", {133: 2}),
    Query("how often should I change my oil", {129: 2}),  # hard negatives: 11
    Query("how do hybrids charge their batteries", {131: 2}),  # hard negatives: 134
    Query("why can I still steer when I slam on the brakes", {132: 2}),
    Query("how far away is the storm", {138: 2}),  # hard negatives: 145, 140
    Query("difference between a typhoon and a hurricane", {140: 2}),
    Query("why does muggy weather feel hotter", {141: 2}),  # hard negatives: 146
    Query("what gives the daytime sky its colour", {142: 2}),  # hard negatives: 139
    Query("why it feels colder when it is windy", {146: 2}),  # hard negatives: 141
    Query("which vitamin prevents scurvy", {151: 2}),
    Query("why is my wifi weak in the other room", {150: 2}),
    Query("who painted the mona lisa", {148: 2}),
)


def ndcg_at(ranked: list[int], relevant: dict[int, int], k: int = 5) -> float:
    """nDCG@k of `ranked` (document indices, best first) against graded judgements.

    Gain is 2**grade - 1 with a log2(rank + 1) discount; the ideal ranking orders the judged grades from best.
    Documents not in `relevant` have grade 0. Returns 0.0 when nothing is relevant.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    dcg = sum((2 ** relevant.get(doc, 0) - 1) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum((2**grade - 1) / math.log2(rank + 2) for rank, grade in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def validate() -> None:
    """Raise ValueError unless the set is well formed."""
    _check_documents()
    texts: set[str] = set()
    for query in QUERIES:
        if not query.text.strip() or query.text.casefold() in texts:
            raise ValueError(f"query {query.text!r} is empty or duplicated")
        texts.add(query.text.casefold())
        _check_judgements(query)


def _check_documents() -> None:
    seen: set[str] = set()
    for i, doc in enumerate(DOCUMENTS):
        key = " ".join(doc.casefold().split())
        if not key:
            raise ValueError(f"document {i} is empty")
        if key in seen:
            raise ValueError(f"document {i} is a duplicate")
        seen.add(key)


def _check_judgements(query: Query) -> None:
    if not 1 <= len(query.relevant) <= 3:
        raise ValueError(f"query {query.text!r} has {len(query.relevant)} relevant documents, not 1-3")
    for index, grade in query.relevant.items():
        if not 0 <= index < len(DOCUMENTS):
            raise ValueError(f"query {query.text!r} points at document {index}, out of range")
        if grade not in (1, 2):
            raise ValueError(f"query {query.text!r} gives document {index} grade {grade}, not 1 or 2")
    if 2 not in query.relevant.values():
        raise ValueError(f"query {query.text!r} has no document of grade 2")


validate()
